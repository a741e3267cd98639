"""The data a responder takes and gives back, the `Responder` port and its one error."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, Self

from deskpilot.errors import Upstream


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved piece of knowledge: a page chunk or a SCENARIO_SPECIFIC training entry.

    `score` is the calibrated retrieval score, 0..1 (higher is better).
    """

    id: str
    text: str
    url: str | None
    title: str
    heading: str | None
    score: float
    source: Literal["page", "training"]


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    role: Literal["contact", "ai", "agent"]
    text: str


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    question: str
    language: str | None
    ai_profile: str | None
    behavioral: list[str]
    passages: list[Passage]
    scenarios: list[Passage]
    history: list[ConversationTurn]
    bot_name: str | None = None


@dataclass(frozen=True, slots=True)
class Citation:
    """A source the visitor can open: only pages with a URL are cited (training is not)."""

    url: str
    title: str
    passage_id: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply; `[n]` markers in `text` point at `citations[n - 1]`.

    `confidence` (0..1) says how well the reply is grounded: the caller hands off below its
    threshold rather than send a guess.
    """

    text: str
    citations: list[Citation]
    passage_ids_used: list[str]
    confidence: float
    responder: str
    # Why the text was replaced, when it was: "leak" (guard tripped) or "no_evidence".
    withheld: str | None = field(default=None)


class ReplyStream(AsyncIterator[str]):
    """The text of a reply as it is written; once exhausted, `reply` holds the whole `Reply`
    (citations, confidence). The deltas add up to `reply.text`, except when a reply is
    withheld mid-stream (`reply.withheld`): then the caller stores `reply.text` instead."""

    def __init__(self, produce: Callable[[Callable[[Reply], None]], AsyncGenerator[str]]) -> None:
        self._reply: Reply | None = None
        self._deltas = produce(self._finish)

    def _finish(self, reply: Reply) -> None:
        self._reply = reply

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        await self._deltas.aclose()

    @property
    def reply(self) -> Reply | None:
        """The finished reply; None until the stream is exhausted (or when it failed)."""
        return self._reply


class Responder(Protocol):
    name: str

    async def reply(self, request: ReplyRequest) -> Reply: ...

    def stream(self, request: ReplyRequest) -> ReplyStream: ...


class ProviderError(Upstream):
    """The chat provider failed for good (after retries): the caller should hand off."""

    default_message = "The language model provider failed"

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        # HTTP status of the last failed attempt, None for timeouts and transport errors.
        self.status = status
