"""A conversation's summary and sentiment, for a handoff and on close: extractive (the
contact's own words and how the conversation went), so it never states what nobody said."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from deskpilot.agent.understand import detect_small_talk, is_frustrated
from deskpilot.llm import ConversationTurn

Sentiment = Literal["angry", "happy", "neutral"]


def clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sentiment_of(turns: Sequence[ConversationTurn]) -> Sentiment:
    """Angry when the contact showed frustration at any point, happy when its last words
    were thanks, else neutral."""
    last_contact = None
    for index, turn in enumerate(turns):
        if turn.role != "contact":
            continue
        if is_frustrated(turn.text, list(turns[:index])):
            return "angry"
        last_contact = turn
    if last_contact is not None and detect_small_talk(last_contact.text) == "thanks":
        return "happy"
    return "neutral"


def summarize(turns: Sequence[ConversationTurn], *, outcome: str | None = None) -> str:
    """What the contact asked first and last, who answered, and `outcome` (why it was
    handed off, or how it closed)."""
    asks = [t.text for t in turns if t.role == "contact" and not detect_small_talk(t.text)]
    lines = []
    if asks:
        lines.append(f"Asked: {clip(asks[0])}")
        if len(asks) > 1:
            lines.append(f"Last message: {clip(asks[-1])}")
    answered_by = [
        label
        for role, label in (("ai", "the AI"), ("agent", "a human agent"))
        if any(t.role == role for t in turns)
    ]
    if answered_by:
        lines.append(f"Answered by {' and '.join(answered_by)}.")
    if outcome:
        lines.append(outcome)
    return "\n".join(lines) or "No messages."
