"""Chat sessions of one org: creation with per-org ticket numbers, the event history,
handoff and takeover, tags, closing and reopening, redaction and the Org API's filters.

The agent calls the same functions for its side of a conversation. Two counters live on
rows and are advanced with one `UPDATE … RETURNING` each (never max()+1), so concurrent
writers on either database never share a ticket number or an event `seq`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from deskpilot import events
from deskpilot.agent.summary import sentiment_of, summarize
from deskpilot.contacts.schemas import MAX_CUSTOM_DATA_KEYS, ContactInput
from deskpilot.contacts.service import get_contact, update_contact, upsert_contact
from deskpilot.conversations.attachments import AttachmentStore, store_attachments, stored_files
from deskpilot.conversations.schemas import (
    AgentInput,
    AttachmentInput,
    EventType,
    SendBody,
    SendContact,
    SenderType,
    SessionCreate,
    SessionFilters,
    SessionUpdate,
)
from deskpilot.db import after_commit
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.jobs import JobQueue
from deskpilot.llm import ConversationTurn
from deskpilot.models import (
    ChatEvent,
    ChatSession,
    ChatTicketCounter,
    Contact,
    Tag,
    chat_session_tags,
    utcnow,
)
from deskpilot.models.conversation import REDACTED
from deskpilot.orgsettings.service import channel_mode, resolve_tags, tag_key
from deskpilot.pagination import apply_cursor, contains_pattern, page_of, time_range
from deskpilot.tenancy import org_scoped
from deskpilot.webhooks import payloads as webhook_events

log = structlog.get_logger()

AGENT_TURN = "agent_turn"
CLOSED_STATUSES = ("closed_resolved", "closed_unresolved")
# The AI answered and the contact stayed silent this long: assumed resolved (API.md 3.4).
IDLE_AFTER = timedelta(hours=24)
IDLE_BATCH = 500

_EVENT_TYPES = frozenset(get_args(EventType))
_SENDER_TYPES = frozenset(get_args(SenderType))
TurnRole = Literal["contact", "ai", "agent"]
_TURN_ROLES: dict[str, TurnRole] = {"contact": "contact", "ai": "ai", "human_agent": "agent"}


def _dialect(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


def _insert(db: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT: the two dialects spell it the same way."""
    module = sqlite if _dialect(db) == "sqlite" else postgresql
    return module.insert(table)


def is_human_owned(session: ChatSession) -> bool:
    """A human agent owns the session: the AI stays silent."""
    return session.assignee_id is not None


def is_handed_off(session: ChatSession) -> bool:
    return session.handoff_at is not None


# --- sessions -----------------------------------------------------------------------------


async def get_session(
    db: AsyncSession, *, org_id: uuid.UUID, session_id: uuid.UUID, for_update: bool = False
) -> ChatSession:
    """`for_update` locks the row on PostgreSQL until the transaction ends."""
    stmt = org_scoped(ChatSession, org_id).where(ChatSession.id == session_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = (await db.scalars(stmt)).first()
    if found is None:
        raise NotFound("Chat session not found")
    return found


async def _next_ticket_number(db: AsyncSession, org_id: uuid.UUID) -> int:
    stmt = (
        _insert(db, ChatTicketCounter)
        .values(org_id=org_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[ChatTicketCounter.org_id],
            set_={"last_number": ChatTicketCounter.last_number + 1},
        )
        .returning(ChatTicketCounter.last_number)
    )
    return int((await db.execute(stmt)).scalar_one())


async def create_session(
    db: AsyncSession, *, org_id: uuid.UUID, data: SessionCreate
) -> ChatSession:
    """Links `contact_id` (404 if unknown) or finds/creates the contact from `contact`,
    verified only when the caller says so. Assist mode follows the channel's autopilot."""
    contact_id = None
    if data.contact_id is not None:
        contact_id = (await get_contact(db, org_id=org_id, contact_id=data.contact_id)).id
    elif data.contact is not None and any(value for value in data.contact.model_dump().values()):
        given = data.contact
        contact = await upsert_contact(
            db,
            org_id=org_id,
            verified=bool(data.verified),
            email=given.email,
            phone_number=given.phone_number,
            name=given.name,
            custom_data=given.custom_data,
        )
        contact_id = contact.id
    mode = await channel_mode(db, org_id=org_id, channel=data.channel.type)
    # Numbered last: on PostgreSQL the counter row stays locked until commit.
    session = ChatSession(
        org_id=org_id,
        ticket_number=await _next_ticket_number(db, org_id),
        status="open",
        channel=data.channel.type,
        assist_mode=mode == "assist",
        contact_id=contact_id,
        custom_data=dict(data.custom_data),
        ai_replies=0,
        ai_unproductive_replies=0,
        event_seq=0,
    )
    db.add(session)
    await db.flush()
    log.info("conversations.created", org_id=str(org_id), session_id=str(session.id))
    _announce_created(db, org_id=org_id, session_id=session.id)
    return session


def _announce_created(db: AsyncSession, *, org_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """The org's live views (the dashboard's inbox) hear of a session before its first
    event, once it is committed."""
    bus = events.bus_of(db)
    if bus is None:
        return
    notice = {"type": "session_created", "org_id": str(org_id), "session_id": str(session_id)}

    async def announce() -> None:
        await bus.publish(events.org_channel(org_id), notice)

    after_commit(db, announce)


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session with what its API object shows beside its own columns."""

    session: ChatSession
    contact: Contact | None
    tags: list[str]


async def describe_sessions(
    db: AsyncSession, *, org_id: uuid.UUID, sessions: Sequence[ChatSession]
) -> list[SessionView]:
    """Two queries for any number of sessions (contacts, tags), never one per session."""
    contact_ids = {s.contact_id for s in sessions if s.contact_id is not None}
    contacts: dict[uuid.UUID, Contact] = {}
    if contact_ids:
        contacts = {
            contact.id: contact
            for contact in await db.scalars(
                org_scoped(Contact, org_id).where(Contact.id.in_(contact_ids))
            )
        }
    tags: dict[uuid.UUID, list[str]] = {s.id: [] for s in sessions}
    if sessions:
        rows = await db.execute(
            org_scoped(Tag, org_id)
            .join(chat_session_tags, chat_session_tags.c.tag_id == Tag.id)
            .where(chat_session_tags.c.session_id.in_(list(tags)))
            .with_only_columns(chat_session_tags.c.session_id, Tag.tag_name)
            .order_by(Tag.name_key)
        )
        for session_id, name in rows.tuples():
            tags[session_id].append(name)
    return [
        SessionView(s, contacts.get(s.contact_id) if s.contact_id is not None else None, tags[s.id])
        for s in sessions
    ]


async def list_sessions(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    handed_off: bool | None = None,
    status: str | None = None,
    channel_type: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
) -> tuple[list[ChatSession], str | None]:
    """Newest first, by creation."""
    stmt = org_scoped(ChatSession, org_id)
    if handed_off is not None:
        stmt = stmt.where(
            ChatSession.handoff_at.is_not(None) if handed_off else ChatSession.handoff_at.is_(None)
        )
    if status is not None:
        stmt = stmt.where(ChatSession.status == status)
    if channel_type is not None:
        stmt = stmt.where(ChatSession.channel == channel_type)
    stmt = stmt.where(
        *time_range(ChatSession.created_at, created_after, created_before),
        *time_range(ChatSession.updated_at, updated_after, updated_before),
    )
    stmt = apply_cursor(
        stmt, created_col=ChatSession.created_at, id_col=ChatSession.id, cursor=cursor, limit=limit
    )
    rows = list(await db.scalars(stmt))
    return page_of(rows, limit, lambda session: (session.created_at, session.id))


def custom_data_matches(
    dialect: str, pairs: Mapping[str, str | bool | int | float]
) -> list[sa.ColumnElement[bool]]:
    """Every pair equal, type included ("1" is not 1, true is not 1)."""
    if not pairs:
        return []
    if dialect == "postgresql":
        return [sa.cast(ChatSession.custom_data, postgresql.JSONB).contains(dict(pairs))]
    conditions: list[sa.ColumnElement[bool]] = []
    for index, (key, value) in enumerate(pairs.items()):
        # json_each rather than a JSON path: keys may hold dots and quotes.
        pair = (
            sa.func.json_each(ChatSession.custom_data)
            .table_valued("key", "type", "atom")
            .alias(f"pair_{index}")
        )
        if isinstance(value, bool):
            match = pair.c.type == ("true" if value else "false")
        elif isinstance(value, int | float):
            match = sa.and_(pair.c.type.in_(("integer", "real")), pair.c.atom == value)
        else:
            match = sa.and_(pair.c.type == "text", pair.c.atom == value)
        conditions.append(sa.exists(sa.select(1).select_from(pair).where(pair.c.key == key, match)))
    return conditions


def _filter_conditions(
    dialect: str, org_id: uuid.UUID, filters: SessionFilters
) -> list[sa.ColumnElement[bool]]:
    where = [
        *time_range(ChatSession.created_at, filters.created_after, filters.created_before),
        *time_range(
            ChatSession.last_message_at, filters.last_message_after, filters.last_message_before
        ),
    ]
    for column, values in (
        (ChatSession.channel, filters.channels),
        (ChatSession.status, filters.statuses),
        (ChatSession.sentiment, filters.sentiments),
        (ChatSession.language, filters.languages),
        (ChatSession.contact_id, filters.contact_ids),
    ):
        if values:
            where.append(column.in_(list(values)))
    if filters.tags:
        where.append(
            sa.exists(
                sa.select(1)
                .select_from(chat_session_tags)
                .join(Tag, Tag.id == chat_session_tags.c.tag_id)
                .where(
                    chat_session_tags.c.session_id == ChatSession.id,
                    Tag.org_id == org_id,
                    Tag.name_key.in_({tag_key(name) for name in filters.tags}),
                )
            )
        )
    if filters.assignee_ids:
        agents = [agent for agent in filters.assignee_ids if agent is not None]
        either: list[sa.ColumnElement[bool]] = []
        if agents:
            either.append(ChatSession.assignee_id.in_(agents))
        if None in filters.assignee_ids:
            either.append(ChatSession.assignee_id.is_(None))
        where.append(sa.or_(*either))
    if filters.team_ids:
        where.append(sa.false())  # no session has a team until teams exist (API.md 6)
    if filters.handed_off is not None:
        where.append(
            ChatSession.handoff_at.is_not(None)
            if filters.handed_off
            else ChatSession.handoff_at.is_(None)
        )
    if filters.custom_data:
        where.extend(custom_data_matches(dialect, filters.custom_data))
    if filters.search:
        where.append(
            sa.exists(
                sa.select(1).where(
                    ChatEvent.session_id == ChatSession.id,
                    ChatEvent.org_id == org_id,
                    ChatEvent.type == "message",
                    ChatEvent.redacted.is_(False),
                    sa.func.lower(ChatEvent.text).like(
                        contains_pattern(filters.search), escape="\\"
                    ),
                )
            )
        )
    return where


async def filter_sessions(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    filters: SessionFilters,
    sort_by: Literal["last_message_at", "created_at"] = "last_message_at",
    sort_order: Literal["desc", "asc"] = "desc",
    page: int = 1,
    limit: int = 25,
) -> tuple[list[ChatSession], bool]:
    """One page and whether another follows. Sessions without messages sort last."""
    direction = sa.desc if sort_order == "desc" else sa.asc
    column = ChatSession.last_message_at if sort_by == "last_message_at" else ChatSession.created_at
    stmt = (
        org_scoped(ChatSession, org_id)
        .where(*_filter_conditions(_dialect(db), org_id, filters))
        .order_by(
            direction(column).nulls_last(),
            direction(ChatSession.created_at),
            direction(ChatSession.id),
        )
        .offset((page - 1) * limit)
        .limit(limit + 1)
    )
    rows = list(await db.scalars(stmt))
    return rows[:limit], len(rows) > limit


def _merged_custom_data(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any], field: str
) -> dict[str, Any]:
    merged = {**(current or {}), **changes}
    if len(merged) > MAX_CUSTOM_DATA_KEYS:
        raise InvalidInput(f"{field} must have at most {MAX_CUSTOM_DATA_KEYS} keys")
    return merged


async def update_session(
    db: AsyncSession, *, session: ChatSession, changes: SessionUpdate
) -> ChatSession:
    """PATCH (API.md 3.4): tags replace the set, an assignee is a takeover, status moves
    log `session_closed` / `session_reopened`."""
    fields = changes.model_fields_set
    if "status" in fields and changes.status is None:
        raise InvalidInput("status cannot be null")
    if "tags" in fields:
        await set_session_tags(db, session=session, names=changes.tags or [])
    if "assignee_id" in fields:
        await assign_session(db, session=session, assignee_id=changes.assignee_id)
    if changes.status == "open":
        await reopen_session(db, session=session)
    elif changes.status is not None and changes.status != session.status:
        # Kept for the close-time summary and the conversation.closed webhook.
        session.close_request = {
            "generate_summary_and_sentiment_on_resolve": (
                changes.generate_summary_and_sentiment_on_resolve
            ),
            "reflect_status_change_for_integration": changes.reflect_status_change_for_integration,
            "session_closed_payload": changes.session_closed_payload,
        }
        closed = await close_session(db, session=session, status=changes.status)
        if changes.generate_summary_and_sentiment_on_resolve:
            await summarize_session(db, session=session)
        if closed is not None:
            await webhook_events.conversation_closed(db, session=session, event=closed)
    if fields:
        session.updated_at = utcnow()
    await db.flush()
    return session


async def summarize_session(db: AsyncSession, *, session: ChatSession) -> None:
    """Fill `summary` and `sentiment` from the conversation (extractive, no model)."""
    turns = await recent_turns(db, session=session, limit=200)
    outcome = f"Closed as {session.status.replace('_', ' ')}."
    if session.handoff_at is not None:
        outcome = f"Handed off ({', '.join(session.handoff_reasons or [])}). {outcome}"
    session.summary = summarize(turns, outcome=outcome)
    session.sentiment = sentiment_of(turns)
    await db.flush()


# --- events -------------------------------------------------------------------------------


async def _advance(
    db: AsyncSession, session: ChatSession, *, message_sender: str | None, now: datetime
) -> tuple[int, str]:
    """The next `seq` and the session's current status, in one statement that also locks
    the row (PostgreSQL) or the database (SQLite) until commit."""
    await db.flush()
    values: dict[str, Any] = {"event_seq": ChatSession.event_seq + 1, "updated_at": now}
    if message_sender is not None:
        values["last_message_at"] = now
        values["last_message_sender"] = message_sender
        if message_sender == "ai":
            values["ai_replies"] = ChatSession.ai_replies + 1
    row = (
        await db.execute(
            sa.update(ChatSession)
            .where(ChatSession.id == session.id, ChatSession.org_id == session.org_id)
            .values(**values)
            .returning(ChatSession.event_seq, ChatSession.status, ChatSession.ai_replies)
            .execution_options(synchronize_session=False)
        )
    ).one()
    seq, status, ai_replies = row
    set_committed_value(session, "event_seq", seq)
    set_committed_value(session, "status", status)
    set_committed_value(session, "updated_at", now)
    set_committed_value(session, "ai_replies", ai_replies)
    if message_sender is not None:
        set_committed_value(session, "last_message_at", now)
        set_committed_value(session, "last_message_sender", message_sender)
    return int(seq), str(status)


async def _append(
    db: AsyncSession,
    *,
    session: ChatSession,
    type: str,
    sender_type: str,
    sender_name: str | None = None,
    sender_id: int | None = None,
    text: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
    citations: list[dict[str, Any]] | None = None,
    debug: dict[str, Any] | None = None,
    reply_state: str | None = None,
    require_open: bool = False,
) -> ChatEvent:
    if type not in _EVENT_TYPES:
        raise ValueError(f"unknown chat event type {type!r}")
    if sender_type not in _SENDER_TYPES:
        raise ValueError(f"unknown sender type {sender_type!r}")
    now = utcnow()
    sender = sender_type if type == "message" and sender_type != "system" else None
    _, status = await _advance(db, session, message_sender=sender, now=now)
    if require_open and status != "open":
        # Closed between our read and this write: the status came back with the seq.
        raise Conflict("Chat session is closed")
    seq = session.event_seq
    event = ChatEvent(
        org_id=session.org_id,
        session_id=session.id,
        seq=seq,
        type=type,
        sender_type=sender_type,
        sender_name=sender_name,
        sender_id=sender_id,
        text=text,
        attachments=attachments or None,
        context=context,
        citations=citations,
        debug=debug,
        redacted=False,
        reply_state=reply_state,
        created_at=now,
    )
    db.add(event)
    await db.flush()
    # Live streams hear of it once committed; hidden types are filtered by each reader.
    events.publish_history_after_commit(
        db,
        org_id=session.org_id,
        session_id=session.id,
        event_id=event.id,
        seq=seq,
        type=type,
        sender_type=sender_type,
        created_at=now.isoformat(),
    )
    # Webhook events go into the outbox in this same transaction.
    await webhook_events.history_event_added(db, session=session, event=event)
    return event


async def append_event(
    db: AsyncSession,
    *,
    session: ChatSession,
    type: str,
    sender_type: str,
    sender_name: str | None = None,
    sender_id: int | None = None,
    text: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
    citations: list[dict[str, Any]] | None = None,
    debug: dict[str, Any] | None = None,
) -> ChatEvent:
    """Add one event at the end of the history. Bumps `updated_at`; a `message` also sets
    `last_message_at` and who sent it, and an AI message counts in `ai_replies`
    (`ai_unproductive_replies` is the agent's to keep)."""
    return await _append(
        db,
        session=session,
        type=type,
        sender_type=sender_type,
        sender_name=sender_name,
        sender_id=sender_id,
        text=text,
        attachments=attachments,
        context=context,
        citations=citations,
        debug=debug,
    )


async def request_ai_turn(
    db: AsyncSession,
    *,
    queue: JobQueue,
    org_id: uuid.UUID,
    session_id: uuid.UUID,
    event_id: uuid.UUID,
) -> None:
    """Enqueue the AI's turn on a stored contact message once this transaction commits (so
    the worker sees the message). Skipped while no `agent_turn` task is registered; the
    message stays `pending` either way, so a missed turn can be re-enqueued later."""
    # The registry imports every feature's tasks, this one's included: look it up now.
    from deskpilot.tasks import TASKS

    if AGENT_TURN not in TASKS:
        return

    async def enqueue() -> None:
        try:
            await queue.enqueue(
                AGENT_TURN, org_id=str(org_id), session_id=str(session_id), event_id=str(event_id)
            )
        except Exception:
            # Committed and still pending: a sweep re-enqueues it; the sender sees success.
            log.exception("conversations.ai_turn_enqueue_failed", event_id=str(event_id))

    after_commit(db, enqueue)


async def add_contact_message(
    db: AsyncSession,
    *,
    session: ChatSession,
    queue: JobQueue,
    text: str,
    sender_name: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
) -> ChatEvent:
    """A contact's message: refused on a closed session (409), then queued for the AI."""
    if session.status != "open":
        raise Conflict("Chat session is closed")
    event = await _append(
        db,
        session=session,
        type="message",
        sender_type="contact",
        sender_name=sender_name,
        text=text,
        attachments=attachments,
        context=context,
        reply_state="pending",
        require_open=True,
    )
    await request_ai_turn(
        db, queue=queue, org_id=session.org_id, session_id=session.id, event_id=event.id
    )
    return event


async def _latest_event(db: AsyncSession, session: ChatSession, type: str) -> ChatEvent | None:
    return (
        await db.scalars(
            org_scoped(ChatEvent, session.org_id)
            .where(ChatEvent.session_id == session.id, ChatEvent.type == type)
            .order_by(ChatEvent.seq.desc())
            .limit(1)
        )
    ).first()


async def hand_off(
    db: AsyncSession,
    *,
    session: ChatSession,
    reasons: list[str],
    explanation: str | None,
    summary: str | None = None,
    sentiment: str | None = None,
) -> ChatEvent:
    """Hand the session to the team: fills `handoff`, `ai_closure_type="handed_off"` and
    logs a `handoff` event. Idempotent: a second call returns the first handoff's event."""
    await db.flush()
    now = utcnow()
    values: dict[str, Any] = {
        "handoff_at": now,
        "handoff_reasons": list(dict.fromkeys(reasons)),
        "handoff_explanation": explanation,
        "handoff_summary": summary,
        "handoff_sentiment": sentiment,
        "ai_closure_type": "handed_off",
    }
    # Conditional, so two racing turns cannot both hand off.
    result = await db.execute(
        sa.update(ChatSession)
        .where(ChatSession.id == session.id, ChatSession.handoff_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        await db.refresh(session)
        existing = await _latest_event(db, session, "handoff")
        if existing is not None:
            return existing
    else:
        for key, value in values.items():
            set_committed_value(session, key, value)
    log.info("conversations.handed_off", session_id=str(session.id), reasons=reasons)
    return await _append(db, session=session, type="handoff", sender_type="system")


async def assign_session(
    db: AsyncSession,
    *,
    session: ChatSession,
    assignee_id: int | None,
    agent_name: str | None = None,
) -> ChatEvent | None:
    """Assigning a human is a takeover: the AI stops and `human_agent_takeover` is logged.
    None hands the session back (no event). Assigning the current assignee does nothing."""
    if assignee_id == session.assignee_id:
        return None
    from_ai = session.assignee_id is None and session.handoff_at is None
    session.assignee_id = assignee_id
    session.updated_at = utcnow()
    if assignee_id is None:
        await db.flush()
        return None
    event = await _append(
        db,
        session=session,
        type="human_agent_takeover",
        sender_type="human_agent",
        sender_id=assignee_id,
        sender_name=agent_name,
    )
    if from_ai:
        await webhook_events.taken_over(db, session=session, event=event)
    return event


async def hand_back_to_ai(db: AsyncSession, *, session: ChatSession) -> None:
    """The AI answers again: no assignee and no open handoff. The `handoff` event stays in
    the history, so reports still count it; no event is logged (none of the API's types
    says this)."""
    session.assignee_id = None
    session.handoff_at = None
    if session.ai_closure_type == "handed_off":
        session.ai_closure_type = None
    session.updated_at = utcnow()
    await db.flush()
    log.info("conversations.handed_back", session_id=str(session.id))


async def set_session_tags(
    db: AsyncSession, *, session: ChatSession, names: list[str], add_only: bool = False
) -> list[str]:
    """Replace the session's tags (or only add, for the auto-tagger). Names must be the
    org's tags, case-insensitively; an unknown one is a 400 naming it. Returns the names
    added."""
    tags = await resolve_tags(db, org_id=session.org_id, tag_names=names)
    wanted = {tag.id: tag.tag_name for tag in tags}
    current = set(
        await db.scalars(
            sa.select(chat_session_tags.c.tag_id).where(
                chat_session_tags.c.session_id == session.id
            )
        )
    )
    removed = set() if add_only else current - set(wanted)
    added = [tag_id for tag_id in wanted if tag_id not in current]
    if removed:
        await db.execute(
            sa.delete(chat_session_tags).where(
                chat_session_tags.c.session_id == session.id,
                chat_session_tags.c.tag_id.in_(removed),
            )
        )
    if added:
        await db.execute(
            _insert(db, chat_session_tags)
            .values([{"session_id": session.id, "tag_id": tag_id} for tag_id in added])
            .on_conflict_do_nothing()
        )
    if removed or added:
        session.updated_at = utcnow()
        await db.flush()
    return [wanted[tag_id] for tag_id in added]


async def recent_turns(
    db: AsyncSession, *, session: ChatSession, limit: int = 12, before_seq: int | None = None
) -> list[ConversationTurn]:
    """The last `limit` visible messages, oldest first, for the AI's context; `before_seq`
    leaves out the message being answered and anything after it. Redacted text is gone."""
    stmt = org_scoped(ChatEvent, session.org_id).where(
        ChatEvent.session_id == session.id,
        ChatEvent.type == "message",
        ChatEvent.sender_type.in_(list(_TURN_ROLES)),
        ChatEvent.redacted.is_(False),
        ChatEvent.text.is_not(None),
    )
    if before_seq is not None:
        stmt = stmt.where(ChatEvent.seq < before_seq)
    rows = list(await db.scalars(stmt.order_by(ChatEvent.seq.desc()).limit(limit)))
    return [
        ConversationTurn(role=_TURN_ROLES[event.sender_type], text=event.text or "")
        for event in reversed(rows)
    ]


async def close_session(
    db: AsyncSession,
    *,
    session: ChatSession,
    status: str,
    ai_closure_type: str | None = None,
) -> ChatEvent | None:
    """Close (or change how it closed) and log `session_closed`; None if it already had
    this status. The AI is the sender when it is the AI's closure."""
    if status not in CLOSED_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CLOSED_STATUSES)}")
    if ai_closure_type is not None:
        session.ai_closure_type = ai_closure_type
    if session.status == status:
        await db.flush()
        return None
    session.status = status
    session.closed_at = utcnow()
    sender = "ai" if ai_closure_type in ("resolved", "assumed_resolved") else "system"
    return await _append(db, session=session, type="session_closed", sender_type=sender)


async def reopen_session(db: AsyncSession, *, session: ChatSession) -> ChatEvent | None:
    """Reopen and log `session_reopened`; None if it was open. A handoff stays."""
    if session.status == "open":
        return None
    session.status = "open"
    session.closed_at = None
    if session.ai_closure_type in ("resolved", "assumed_resolved"):
        session.ai_closure_type = None
    return await _append(db, session=session, type="session_reopened", sender_type="system")


# --- the Org API's send -------------------------------------------------------------------


def _contact_name(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    return contact.name or contact.non_verified_name


async def _merge_contact(
    db: AsyncSession, *, session: ChatSession, given: SendContact
) -> Contact | None:
    """Org API data is verified: merged into the session's contact, or into the contact
    it finds or creates (then linked) when the session has none."""
    if session.contact_id is None:
        if not any(value for value in given.model_dump().values()):
            return None
        contact = await upsert_contact(
            db,
            org_id=session.org_id,
            verified=True,
            email=given.email,
            phone_number=given.phone_number,
            name=given.name,
            avatar_url=given.avatar_url,
            custom_data=given.custom_data,
        )
        session.contact_id = contact.id
        return contact
    contact = await get_contact(db, org_id=session.org_id, contact_id=session.contact_id)
    fields: dict[str, Any] = {}
    if given.email:
        fields["email"] = given.email
    if given.phone_number:
        fields["phone"] = given.phone_number
    if given.name:
        fields["name"] = given.name
    if given.custom_data:
        fields["custom_data"] = _merged_custom_data(
            contact.custom_data, given.custom_data, "contact.custom_data"
        )
    if fields:
        await update_contact(db, contact=contact, data=ContactInput(**fields))
    if given.avatar_url:
        contact.avatar_url = given.avatar_url
    return contact


def _agent_context(agent: AgentInput) -> dict[str, Any] | None:
    """The agent's avatar travels with their events, for the widget to show."""
    return {"sender_avatar_url": agent.avatar_url} if agent.avatar_url else None


async def _has_joined(db: AsyncSession, session: ChatSession, agent_id: int) -> bool:
    found = await db.scalar(
        org_scoped(ChatEvent, session.org_id)
        .where(
            ChatEvent.session_id == session.id,
            ChatEvent.type == "human_agent_joined",
            ChatEvent.sender_id == agent_id,
        )
        .with_only_columns(ChatEvent.id)
        .limit(1)
    )
    return found is not None


async def send_message(
    db: AsyncSession,
    *,
    session: ChatSession,
    data: SendBody,
    queue: JobQueue,
    store: AttachmentStore,
) -> ChatEvent:
    """`POST /chat/sessions/{id}/send`: a contact's message (409 on a closed session;
    queued for the AI) or an agent's (a takeover if asked; `human_agent_joined` the first
    time that agent speaks). Contact data and custom_data are merged first."""
    if data.sender == "agent" and data.agent is None:
        raise InvalidInput("agent is required when sender is agent")
    if data.sender == "contact" and session.status != "open":
        raise Conflict("Chat session is closed")
    if data.custom_data:
        session.custom_data = _merged_custom_data(
            session.custom_data, data.custom_data, "custom_data"
        )
    contact = None
    if data.contact is not None:
        contact = await _merge_contact(db, session=session, given=data.contact)
    if data.sender == "agent" and data.agent is not None:
        agent = data.agent
        if data.should_take_over_session_from_ai:
            await assign_session(db, session=session, assignee_id=agent.id, agent_name=agent.name)
        if not await _has_joined(db, session, agent.id):
            await _append(
                db,
                session=session,
                type="human_agent_joined",
                sender_type="human_agent",
                sender_id=agent.id,
                sender_name=agent.name,
                context=_agent_context(agent),
            )
    attachments = await _store(store, session, data.message.attachments)
    try:
        if data.sender == "contact":
            if contact is None and session.contact_id is not None:
                contact = await db.get(Contact, session.contact_id)
            return await add_contact_message(
                db,
                session=session,
                queue=queue,
                text=data.message.text,
                sender_name=_contact_name(contact),
                attachments=attachments,
            )
        assert data.agent is not None
        return await _append(
            db,
            session=session,
            type="message",
            sender_type="human_agent",
            sender_id=data.agent.id,
            sender_name=data.agent.name,
            text=data.message.text,
            attachments=attachments,
            context=_agent_context(data.agent),
        )
    except BaseException:
        await store.delete(session.org_id, session.id, stored_files(attachments))
        raise


async def _store(
    store: AttachmentStore, session: ChatSession, inputs: Sequence[AttachmentInput]
) -> list[dict[str, Any]]:
    if not inputs:
        return []
    return await store_attachments(
        store, org_id=session.org_id, session_id=session.id, inputs=inputs
    )


async def find_attachment(
    db: AsyncSession, *, session: ChatSession, attachment_id: str
) -> dict[str, Any]:
    """A stored (base64) attachment of the session, or NotFound."""
    events = await db.scalars(
        org_scoped(ChatEvent, session.org_id).where(
            ChatEvent.session_id == session.id, ChatEvent.attachments.is_not(None)
        )
    )
    for event in events:
        for item in event.attachments or ():
            if item.get("id") == attachment_id and item.get("file"):
                return item
    raise NotFound("Attachment not found")


# --- history ------------------------------------------------------------------------------


def _encode_seq(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


def _decode_seq(cursor: str) -> int:
    try:
        raw = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        seq = raw["seq"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput("cursor is not valid") from exc
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**31:
        raise InvalidInput("cursor is not valid")
    return seq


async def list_history(
    db: AsyncSession, *, session: ChatSession, cursor: str | None, limit: int
) -> tuple[list[ChatEvent], str | None]:
    """Oldest first, by `seq`: stable while the conversation goes on."""
    stmt = org_scoped(ChatEvent, session.org_id).where(ChatEvent.session_id == session.id)
    if cursor:
        stmt = stmt.where(ChatEvent.seq > _decode_seq(cursor))
    rows = list(await db.scalars(stmt.order_by(ChatEvent.seq).limit(limit + 1)))
    items = rows[:limit]
    return items, _encode_seq(items[-1].seq) if len(rows) > limit and items else None


# --- redaction ----------------------------------------------------------------------------


def _delete_after_commit(
    db: AsyncSession, store: AttachmentStore, session: ChatSession, files: list[str]
) -> None:
    """Files go only once the redaction is committed: a rollback keeps both."""
    if not files:
        return
    org_id, session_id = session.org_id, session.id

    async def delete() -> None:
        await store.delete(org_id, session_id, files)

    after_commit(db, delete)


async def redact_event(
    db: AsyncSession, *, session: ChatSession, event_id: uuid.UUID, store: AttachmentStore
) -> None:
    """Irreversibly: text becomes `[redacted]`, attachments are deleted, and the client
    context and the AI's debug record (which quote the message) are dropped; so is the
    text in the webhook payloads that copy the event."""
    event = (
        await db.scalars(
            org_scoped(ChatEvent, session.org_id).where(
                ChatEvent.session_id == session.id, ChatEvent.id == event_id
            )
        )
    ).first()
    if event is None:
        raise NotFound("Message not found")
    files = stored_files(event.attachments)
    if event.text is not None:
        event.text = REDACTED
    event.attachments = None
    event.context = None
    event.debug = None
    event.redacted = True
    session.updated_at = utcnow()
    await db.flush()
    await webhook_events.event_redacted(db, session=session, event=event)
    _delete_after_commit(db, store, session, files)


async def redact_session(db: AsyncSession, *, session: ChatSession, store: AttachmentStore) -> None:
    """Every event as in `redact_event`, plus the summaries written from the conversation
    (in the history and in the webhook payloads)."""
    files = [
        name
        for attachments in await db.scalars(
            org_scoped(ChatEvent, session.org_id)
            .where(ChatEvent.session_id == session.id, ChatEvent.attachments.is_not(None))
            .with_only_columns(ChatEvent.attachments)
        )
        for name in stored_files(attachments)
    ]
    await db.execute(
        sa.update(ChatEvent)
        .where(ChatEvent.session_id == session.id, ChatEvent.org_id == session.org_id)
        .values(
            text=sa.case((ChatEvent.text.is_(None), None), else_=REDACTED),
            attachments=sa.null(),
            context=sa.null(),
            debug=sa.null(),
            redacted=True,
        )
        .execution_options(synchronize_session="fetch")
    )
    for column in ("summary", "handoff_summary", "handoff_explanation"):
        if getattr(session, column) is not None:
            setattr(session, column, REDACTED)
    session.updated_at = utcnow()
    await db.flush()
    await webhook_events.session_redacted(db, session=session)
    _delete_after_commit(db, store, session, files)


# --- idle sessions ------------------------------------------------------------------------


def _idle(cutoff: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        ChatSession.status == "open",
        ChatSession.last_message_sender == "ai",
        ChatSession.last_message_at < cutoff,
        ChatSession.assignee_id.is_(None),
        ChatSession.handoff_at.is_(None),
    ]


async def idle_session_ids(db: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Across every org (a system sweep): open sessions the AI answered last, silent since."""
    return list(
        await db.scalars(
            sa.select(ChatSession.id)
            .where(*_idle(now - IDLE_AFTER))
            .order_by(ChatSession.last_message_at)
            .limit(IDLE_BATCH)
        )
    )


async def close_if_idle(db: AsyncSession, *, session_id: uuid.UUID, now: datetime) -> bool:
    """Close as `closed_resolved` / `assumed_resolved` if the session is still idle: the
    conditions are re-checked in the UPDATE, so a message that just arrived wins."""
    result = await db.execute(
        sa.update(ChatSession)
        .where(ChatSession.id == session_id, *_idle(now - IDLE_AFTER))
        .values(
            status="closed_resolved",
            ai_closure_type="assumed_resolved",
            closed_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session = await db.get(ChatSession, session_id, populate_existing=True)
    assert session is not None
    closed = await _append(db, session=session, type="session_closed", sender_type="ai")
    await summarize_session(db, session=session)
    await webhook_events.conversation_closed(db, session=session, event=closed)
    return True
