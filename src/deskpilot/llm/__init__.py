"""Answer writing: the `Responder` port, an OpenAI-compatible chat responder, the offline
extractive responder (the default), and the leak guard both share.

ProviderError (Upstream, 502): the chat provider failed after its retries; hand off.
"""

from deskpilot.llm._guard import LeakGuard, contains_profile_leak
from deskpilot.llm._offline import Composition, Embed, OfflineResponder
from deskpilot.llm._openai import OpenAIConfig, OpenAIResponder
from deskpilot.llm._phrases import Phrase, phrase, phrase_language
from deskpilot.llm._prompt import Prompt, build_prompt
from deskpilot.llm._types import (
    Citation,
    ConversationTurn,
    Passage,
    ProviderError,
    Reply,
    ReplyRequest,
    ReplyStream,
    Responder,
)

__all__ = [
    "Citation",
    "Composition",
    "ConversationTurn",
    "Embed",
    "LeakGuard",
    "OfflineResponder",
    "OpenAIConfig",
    "OpenAIResponder",
    "Passage",
    "Phrase",
    "Prompt",
    "ProviderError",
    "Reply",
    "ReplyRequest",
    "ReplyStream",
    "Responder",
    "build_prompt",
    "contains_profile_leak",
    "phrase",
    "phrase_language",
]
