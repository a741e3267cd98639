"""Waiting for the AI's turn on one contact message (`send?wait_for_ai=true`): the turn runs
in the background jobs as always; the caller watches the message's reply state and then
reads what the turn produced."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from deskpilot.conversations.service import is_handed_off, is_human_owned
from deskpilot.models import ChatEvent, ChatSession

POLL_SECONDS = 0.05
# Confidence from which an answer is reported as covering the question completely.
COMPLETE_CONFIDENCE = 0.7


@dataclass(frozen=True, slots=True)
class TurnResult:
    # False: the turn did not finish within the wait.
    finished: bool
    reply_id: uuid.UUID | None = None
    reply_text: str | None = None
    decision: str | None = None
    confidence: float | None = None
    handed_off: bool = False
    human_owned: bool = False
    summary: str | None = None
    sentiment: str | None = None

    @property
    def code(self) -> str | None:
        """OpenCX's `code`: pending past the wait; the team has the conversation (a handoff,
        whose notice may still come as the AI's message, a human owner, autopilot off or
        assist, where the AI sends nothing); else none."""
        if not self.finished:
            return "ai_response_pending"
        if self.reply_id is None or self.handed_off:
            return "session_assigned_to_human_agent"
        return None


async def _result(db: AsyncSession, event: ChatEvent) -> TurnResult:
    session = await db.get(ChatSession, event.session_id)
    assert session is not None
    reply = (
        await db.scalars(
            sa.select(ChatEvent)
            .where(
                ChatEvent.session_id == event.session_id,
                ChatEvent.seq > event.seq,
                ChatEvent.type == "message",
                ChatEvent.sender_type == "ai",
            )
            .order_by(ChatEvent.seq)
            .limit(1)
        )
    ).first()
    debug = (reply.debug if reply is not None else event.debug) or {}
    return TurnResult(
        finished=True,
        reply_id=reply.id if reply is not None else None,
        reply_text=reply.text if reply is not None else None,
        decision=debug.get("decision"),
        confidence=debug.get("confidence"),
        handed_off=is_handed_off(session),
        human_owned=is_human_owned(session),
        summary=session.handoff_summary or session.summary,
        sentiment=session.sentiment,
    )


async def wait_for_turn(
    sessionmaker: async_sessionmaker[AsyncSession], *, event_id: uuid.UUID, timeout: float
) -> TurnResult:
    """Poll the message until its turn is done (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while True:
        async with sessionmaker() as db:
            event = await db.get(ChatEvent, event_id)
            if event is None:
                return TurnResult(finished=True)
            if event.reply_state in (None, "done"):
                return await _result(db, event)
        if time.monotonic() >= deadline:
            return TurnResult(finished=False)
        await asyncio.sleep(POLL_SECONDS)
