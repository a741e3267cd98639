"""Background tasks of the agent: the AI's turn on a stored contact message, and the sweep
that re-runs turns a crash or a lost job left behind.

A contact message is stored `pending`; the turn claims it with one conditional UPDATE (so two
workers never answer it twice), and stores the reply, the handoff and the message's `done`
state in one transaction. A claim older than the job lease is taken over by the sweep, so a
killed process loses no turn. Turns of one session run in message order: a message waits
while an earlier one of its session is still unanswered.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from deskpilot import events
from deskpilot.agent.resources import agent_for
from deskpilot.agent.turn import Agent, TurnInput, TurnOutcome
from deskpilot.contacts.service import contact_segments
from deskpilot.conversations import service as conversations
from deskpilot.db import transaction
from deskpilot.jobs import TaskContext, TaskFunction
from deskpilot.models import ChatEvent, ChatSession, Contact
from deskpilot.models.base import utcnow

log = structlog.get_logger(__name__)

AGENT_TURN = conversations.AGENT_TURN
# A pending message nobody picked up for this long is re-enqueued by the sweep.
_PENDING_GRACE = timedelta(seconds=20)
_UNANSWERED = ("pending", "claimed")


async def _claim(ctx: TaskContext, event_id: uuid.UUID) -> bool:
    """Take the message for this runner: pending, or claimed by a runner whose lease ran
    out; and no earlier message of its session still waiting."""
    now = utcnow()
    expired = now - timedelta(seconds=ctx.settings.JOBS_LEASE_SECONDS)
    earlier = aliased(ChatEvent)
    blocked = (
        sa.select(earlier.id)
        .where(
            earlier.session_id == ChatEvent.session_id,
            earlier.seq < ChatEvent.seq,
            earlier.reply_state.in_(_UNANSWERED),
        )
        .exists()
    )
    async with transaction(ctx.sessionmaker) as db:
        result = await db.execute(
            sa.update(ChatEvent)
            .where(
                ChatEvent.id == event_id,
                sa.or_(
                    ChatEvent.reply_state == "pending",
                    sa.and_(
                        ChatEvent.reply_state == "claimed", ChatEvent.reply_claimed_at < expired
                    ),
                ),
                ~blocked,
            )
            .values(reply_state="claimed", reply_claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _known_fields(contact: Contact | None) -> frozenset[str]:
    if contact is None:
        return frozenset()
    known = set()
    if contact.name or contact.non_verified_name:
        known.add("name")
    if contact.email or contact.non_verified_email:
        known.add("email")
    if contact.phone_number:
        known.add("phone_number")
    return frozenset(known)


async def agent_turn(ctx: TaskContext, *, org_id: str, session_id: str, event_id: str) -> None:
    """Run the AI's turn on contact message `event_id` and store what it decided."""
    event_uuid = uuid.UUID(event_id)
    if not await _claim(ctx, event_uuid):
        return
    agent = agent_for(ctx)
    bus = events.bus_of(ctx.sessionmaker)
    typing = False
    try:
        async with transaction(ctx.sessionmaker) as db:
            session = await conversations.get_session(
                db, org_id=uuid.UUID(org_id), session_id=uuid.UUID(session_id)
            )
            event = await db.get(ChatEvent, event_uuid)
            if event is None or event.session_id != session.id:
                return
            if session.status != "open" or event.redacted:
                event.reply_state = "done"
                return
            if not (conversations.is_human_owned(session) or conversations.is_handed_off(session)):
                # The widget shows the AI writing while the turn runs (API.md 4.3).
                typing = True
                await events.publish_typing(
                    bus, org_id=session.org_id, session_id=session.id, kind="ai", active=True
                )
            on_delta = _delta_publisher(bus, session) if typing else None
            outcome = await _run_turn(db, agent, session=session, event=event, on_delta=on_delta)
    finally:
        if typing:
            # After the commit above published the reply, or after a failed turn.
            await events.publish_typing(
                bus,
                org_id=uuid.UUID(org_id),
                session_id=uuid.UUID(session_id),
                kind="ai",
                active=False,
            )
    log.info(
        "agent.turn",
        org_id=org_id,
        session_id=session_id,
        decision=outcome.decision,
        ms=outcome.debug.get("timings_ms", {}).get("total"),
    )
    await _next_waiting(ctx, uuid.UUID(session_id))


def _delta_publisher(
    bus: events.EventBus | None, session: ChatSession
) -> Callable[[str], Awaitable[None]] | None:
    """Passes the reply's pieces to the session's live viewers; a failed publish only
    costs the live preview (the stored reply still arrives)."""
    if bus is None:
        return None
    org_id, session_id = session.org_id, session.id

    async def publish(text: str) -> None:
        try:
            await events.publish_delta(bus, org_id=org_id, session_id=session_id, text=text)
        except Exception as exc:
            log.warning("agent.delta_publish_failed", error=str(exc))

    return publish


async def _run_turn(
    db: AsyncSession,
    agent: Agent,
    *,
    session: ChatSession,
    event: ChatEvent,
    on_delta: Callable[[str], Awaitable[None]] | None = None,
) -> TurnOutcome:
    """Decide the reply to `event` and store it, in the caller's transaction."""
    contact = await db.get(Contact, session.contact_id) if session.contact_id else None
    history = await conversations.recent_turns(db, session=session, before_seq=event.seq)
    turn = TurnInput(
        org_id=session.org_id,
        message=event.text or "",
        channel=session.channel,  # type: ignore[arg-type]
        history=history,
        segments=contact_segments(contact),
        known_fields=_known_fields(contact),
        language=session.language,
        human_owned=conversations.is_human_owned(session),
        handed_off=conversations.is_handed_off(session),
        unproductive_replies=session.ai_unproductive_replies,
        on_delta=on_delta,
    )
    outcome = await agent.run(db, turn)
    await _store(db, session=session, event=event, outcome=outcome)
    return outcome


async def _store(
    db: AsyncSession, *, session: ChatSession, event: ChatEvent, outcome: TurnOutcome
) -> None:
    """Everything the turn decided, in the caller's transaction."""
    event.reply_state = "done"
    debug: dict[str, Any] = dict(outcome.debug)
    if outcome.language and not session.language:
        session.language = outcome.language
    if outcome.decision != "silent":
        session.sentiment = outcome.sentiment
    if outcome.draft:
        # Assist mode: the draft waits for a human on the contact's message.
        session.assist_mode = True
        event.debug = {**debug, "draft": outcome.reply}
    elif outcome.reply:
        await conversations.append_event(
            db,
            session=session,
            type="message",
            sender_type="ai",
            text=outcome.reply,
            citations=[{"url": c.url, "title": c.title} for c in outcome.citations],
            debug=debug,
        )
    else:
        event.debug = debug
    if outcome.productive is not None:
        session.ai_unproductive_replies = (
            0 if outcome.productive else session.ai_unproductive_replies + 1
        )
    if outcome.tags:
        await conversations.set_session_tags(db, session=session, names=outcome.tags, add_only=True)
    if outcome.handoff is not None:
        await conversations.hand_off(
            db,
            session=session,
            reasons=outcome.handoff.reasons,
            explanation=outcome.handoff.explanation,
            summary=outcome.handoff.summary,
            sentiment=outcome.sentiment,
        )


async def _next_waiting(ctx: TaskContext, session_id: uuid.UUID) -> None:
    """Enqueue the session's next unanswered message, which waited for this one."""
    async with ctx.sessionmaker() as db:
        row = (
            await db.execute(
                sa.select(ChatEvent.id, ChatEvent.org_id)
                .where(ChatEvent.session_id == session_id, ChatEvent.reply_state == "pending")
                .order_by(ChatEvent.seq)
                .limit(1)
            )
        ).first()
    if row is not None:
        await ctx.queue.enqueue(
            AGENT_TURN, org_id=str(row.org_id), session_id=str(session_id), event_id=str(row.id)
        )


async def resume_turns(ctx: TaskContext) -> None:
    """Periodic: re-enqueue turns that nobody is running (a lost job, a killed worker)."""
    now = utcnow()
    expired = now - timedelta(seconds=ctx.settings.JOBS_LEASE_SECONDS)
    async with ctx.sessionmaker() as db:
        rows = (
            await db.execute(
                sa.select(ChatEvent.id, ChatEvent.org_id, ChatEvent.session_id)
                .where(
                    sa.or_(
                        sa.and_(
                            ChatEvent.reply_state == "pending",
                            ChatEvent.created_at < now - _PENDING_GRACE,
                        ),
                        sa.and_(
                            ChatEvent.reply_state == "claimed",
                            ChatEvent.reply_claimed_at < expired,
                        ),
                    )
                )
                .order_by(ChatEvent.created_at)
                .limit(500)
            )
        ).all()
    for row in rows:
        await ctx.queue.enqueue(
            AGENT_TURN,
            org_id=str(row.org_id),
            session_id=str(row.session_id),
            event_id=str(row.id),
        )


TASKS: dict[str, TaskFunction] = {AGENT_TURN: agent_turn}
