"""What the dashboard reads, and the little it writes of its own: the inbox (one page of
conversations with their contact, tags, last message and unread count, in a fixed number of
queries whatever the page holds), a conversation with its transcript, read marks, and the
org's members and their roles.

Unread, per dashboard user: the events of a conversation after the last one the user saw
(`ReadMark.seen_seq`, against the session's `event_seq`). Opening a conversation, and
acting in it, moves the mark to its latest event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.conversations import service as conversations
from deskpilot.conversations.service import CLOSED_STATUSES
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import (
    ChatEvent,
    ChatSession,
    Contact,
    OrgMembership,
    ReadMark,
    Tag,
    User,
    chat_session_tags,
    utcnow,
)
from deskpilot.orgsettings.service import tag_key
from deskpilot.pagination import apply_cursor, contains_pattern, page_of
from deskpilot.tenancy import org_scoped

InboxView = Literal["open", "handed_off", "resolved", "all"]
INBOX_VIEWS: tuple[InboxView, ...] = get_args(InboxView)
PAGE_SIZE = 50
# A conversation view shows this many of the latest events; older ones are summarised.
TRANSCRIPT_LIMIT = 500
Role = Literal["admin", "agent"]


@dataclass(frozen=True, slots=True)
class InboxFilters:
    view: InboxView = "open"
    channel: str | None = None
    tag: str | None = None
    # "me", "none" (nobody: the AI or the team's queue) or a member's user id.
    assignee: str | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    text: str | None
    sender_type: str
    redacted: bool


@dataclass(frozen=True, slots=True)
class InboxRow:
    session: ChatSession
    contact: Contact | None
    unread: int
    tags: list[str]
    preview: Preview | None


@dataclass(frozen=True, slots=True)
class InboxCounts:
    open: int
    handed_off: int
    resolved: int
    unread: int  # open conversations with events the user has not seen


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    name: str
    email: str
    role: str


@dataclass(slots=True)
class Conversation:
    session: ChatSession
    contact: Contact | None
    tags: list[str]
    events: list[ChatEvent]
    earlier_events: int = 0


def contact_label(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    return (
        contact.name
        or contact.non_verified_name
        or contact.email
        or contact.non_verified_email
        or contact.phone_number
    )


# --- members ------------------------------------------------------------------------------


async def list_members(db: AsyncSession, *, org_id: uuid.UUID) -> list[Member]:
    rows = await db.execute(
        org_scoped(OrgMembership, org_id)
        .join(User, User.id == OrgMembership.user_id)
        .with_only_columns(User.id, User.name, User.email, OrgMembership.role)
        .order_by(sa.func.lower(User.name), User.id)
    )
    return [Member(user_id, name, email, role) for user_id, name, email, role in rows.tuples()]


async def get_member(db: AsyncSession, *, org_id: uuid.UUID, user_id: int) -> Member:
    row = (
        await db.execute(
            org_scoped(OrgMembership, org_id)
            .join(User, User.id == OrgMembership.user_id)
            .where(OrgMembership.user_id == user_id)
            .with_only_columns(User.id, User.name, User.email, OrgMembership.role)
        )
    ).first()
    if row is None:
        raise NotFound("This person is not a member of the organization")
    user_id, name, email, role = row
    return Member(user_id, name, email, role)


async def set_member_role(
    db: AsyncSession, *, org_id: uuid.UUID, user_id: int, role: str, acting_user_id: int
) -> Member:
    """An admin changes someone else's role: nobody demotes themselves, so an org always
    keeps the admin who could undo it."""
    if role not in get_args(Role):
        raise InvalidInput("role must be admin or agent")
    if user_id == acting_user_id:
        raise Conflict("You cannot change your own role")
    member = await get_member(db, org_id=org_id, user_id=user_id)
    await db.execute(
        sa.update(OrgMembership)
        .where(OrgMembership.org_id == org_id, OrgMembership.user_id == user_id)
        .values(role=role)
        .execution_options(synchronize_session=False)
    )
    return Member(member.user_id, member.name, member.email, role)


# --- the inbox ----------------------------------------------------------------------------


def _read_mark_join(user_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(ReadMark.session_id == ChatSession.id, ReadMark.user_id == user_id)


def _view_condition(view: InboxView) -> list[sa.ColumnElement[bool]]:
    if view == "open":
        return [ChatSession.status == "open"]
    if view == "handed_off":
        return [ChatSession.status == "open", ChatSession.handoff_at.is_not(None)]
    if view == "resolved":
        return [ChatSession.status.in_(CLOSED_STATUSES)]
    return []


def _assignee_condition(assignee: str, user_id: int) -> sa.ColumnElement[bool]:
    if assignee == "me":
        return ChatSession.assignee_id == user_id
    if assignee == "none":
        return ChatSession.assignee_id.is_(None)
    try:
        agent_id = int(assignee)
    except ValueError as exc:
        raise InvalidInput("assignee must be me, none or a member") from exc
    if not -(2**31) <= agent_id < 2**31:  # stored as a 32-bit integer
        raise InvalidInput("assignee must be me, none or a member")
    return ChatSession.assignee_id == agent_id


def _search_condition(org_id: uuid.UUID, text: str) -> sa.ColumnElement[bool]:
    """The contact's names and emails, the messages' text, or `#123` / `123` for a ticket."""
    pattern = contains_pattern(text)
    either: list[sa.ColumnElement[bool]] = [
        sa.func.lower(column).like(pattern, escape="\\")
        for column in (
            Contact.name,
            Contact.non_verified_name,
            Contact.email,
            Contact.non_verified_email,
        )
    ]
    either.append(
        sa.exists(
            sa.select(1).where(
                ChatEvent.session_id == ChatSession.id,
                ChatEvent.org_id == org_id,
                ChatEvent.type == "message",
                ChatEvent.redacted.is_(False),
                sa.func.lower(ChatEvent.text).like(pattern, escape="\\"),
            )
        )
    )
    number = text.strip().removeprefix("#")
    if number.isdigit() and len(number) < 10:
        either.append(ChatSession.ticket_number == int(number))
    return sa.or_(*either)


def _conditions(
    org_id: uuid.UUID, user_id: int, filters: InboxFilters
) -> list[sa.ColumnElement[bool]]:
    where = _view_condition(filters.view)
    if filters.channel:
        where.append(ChatSession.channel == filters.channel)
    if filters.tag:
        where.append(
            sa.exists(
                sa.select(1)
                .select_from(chat_session_tags)
                .join(Tag, Tag.id == chat_session_tags.c.tag_id)
                .where(
                    chat_session_tags.c.session_id == ChatSession.id,
                    Tag.org_id == org_id,
                    Tag.name_key == tag_key(filters.tag),
                )
            )
        )
    if filters.assignee:
        where.append(_assignee_condition(filters.assignee, user_id))
    if filters.search:
        where.append(_search_condition(org_id, filters.search))
    return where


async def list_inbox(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    user_id: int,
    filters: InboxFilters,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[InboxRow], str | None]:
    """Newest activity first (any event, tag or assignment bumps `updated_at`), one page;
    three queries: the page with contacts and read marks, its tags, its last messages."""
    stmt = (
        org_scoped(ChatSession, org_id)
        .outerjoin(Contact, sa.and_(Contact.id == ChatSession.contact_id, Contact.org_id == org_id))
        .outerjoin(ReadMark, _read_mark_join(user_id))
        .add_columns(Contact, sa.func.coalesce(ReadMark.seen_seq, 0))
        .where(*_conditions(org_id, user_id, filters))
    )
    stmt = apply_cursor(
        stmt, created_col=ChatSession.updated_at, id_col=ChatSession.id, cursor=cursor, limit=limit
    )
    rows = list((await db.execute(stmt)).tuples())
    page, next_cursor = page_of(rows, limit, lambda row: (row[0].updated_at, row[0].id))
    sessions = [session for session, _, _ in page]
    tags = await _tags_of(db, org_id=org_id, session_ids=[s.id for s in sessions])
    previews = await _last_messages(db, org_id=org_id, session_ids=[s.id for s in sessions])
    return [
        InboxRow(
            session=session,
            contact=contact,
            unread=max(0, session.event_seq - int(seen)),
            tags=tags.get(session.id, []),
            preview=previews.get(session.id),
        )
        for session, contact, seen in page
    ], next_cursor


async def _tags_of(
    db: AsyncSession, *, org_id: uuid.UUID, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = {}
    if not session_ids:
        return found
    rows = await db.execute(
        org_scoped(Tag, org_id)
        .join(chat_session_tags, chat_session_tags.c.tag_id == Tag.id)
        .where(chat_session_tags.c.session_id.in_(session_ids))
        .with_only_columns(chat_session_tags.c.session_id, Tag.tag_name)
        .order_by(Tag.name_key)
    )
    for session_id, name in rows.tuples():
        found.setdefault(session_id, []).append(name)
    return found


async def _last_messages(
    db: AsyncSession, *, org_id: uuid.UUID, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Preview]:
    if not session_ids:
        return {}
    latest = (
        org_scoped(ChatEvent, org_id)
        .where(ChatEvent.session_id.in_(session_ids), ChatEvent.type == "message")
        .group_by(ChatEvent.session_id)
        .with_only_columns(ChatEvent.session_id, sa.func.max(ChatEvent.seq).label("seq"))
        .subquery()
    )
    rows = await db.execute(
        org_scoped(ChatEvent, org_id)
        .join(
            latest,
            sa.and_(ChatEvent.session_id == latest.c.session_id, ChatEvent.seq == latest.c.seq),
        )
        .with_only_columns(
            ChatEvent.session_id, ChatEvent.text, ChatEvent.sender_type, ChatEvent.redacted
        )
    )
    return {
        session_id: Preview(text, sender_type, redacted)
        for session_id, text, sender_type, redacted in rows.tuples()
    }


async def inbox_counts(db: AsyncSession, *, org_id: uuid.UUID, user_id: int) -> InboxCounts:
    """The tabs' counts and the user's unread conversations, in one query."""
    is_open = ChatSession.status == "open"

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)

    row = (
        await db.execute(
            org_scoped(ChatSession, org_id)
            .outerjoin(ReadMark, _read_mark_join(user_id))
            .with_only_columns(
                count(is_open),
                count(is_open, ChatSession.handoff_at.is_not(None)),
                count(ChatSession.status.in_(CLOSED_STATUSES)),
                count(is_open, ChatSession.event_seq > sa.func.coalesce(ReadMark.seen_seq, 0)),
            )
        )
    ).one()
    return InboxCounts(*(int(value) for value in row))


# --- one conversation ---------------------------------------------------------------------


async def load_conversation(
    db: AsyncSession, *, org_id: uuid.UUID, session_id: uuid.UUID
) -> Conversation:
    """The session (404 outside the org), its contact, tags and latest events."""
    session = await conversations.get_session(db, org_id=org_id, session_id=session_id)
    return await describe_conversation(db, session=session)


async def describe_conversation(db: AsyncSession, *, session: ChatSession) -> Conversation:
    view = (await conversations.describe_sessions(db, org_id=session.org_id, sessions=[session]))[0]
    rows = list(
        await db.scalars(
            org_scoped(ChatEvent, session.org_id)
            .where(ChatEvent.session_id == session.id)
            .order_by(ChatEvent.seq.desc())
            .limit(TRANSCRIPT_LIMIT)
        )
    )
    rows.reverse()
    earlier = rows[0].seq - 1 if rows and len(rows) == TRANSCRIPT_LIMIT else 0
    return Conversation(session, view.contact, view.tags, rows, earlier_events=max(0, earlier))


def _upsert(db: AsyncSession) -> Any:
    module = sqlite if db.get_bind().dialect.name == "sqlite" else postgresql
    return module.insert(ReadMark)


async def mark_read(db: AsyncSession, *, session: ChatSession, user_id: int) -> None:
    """Everything up to the session's latest event is seen; a mark never moves back."""
    now = utcnow()
    stmt = _upsert(db).values(
        user_id=user_id,
        session_id=session.id,
        org_id=session.org_id,
        seen_seq=session.event_seq,
        seen_at=now,
    )
    await db.execute(
        stmt.on_conflict_do_update(
            index_elements=[ReadMark.user_id, ReadMark.session_id],
            set_={
                "seen_seq": sa.case(
                    (stmt.excluded.seen_seq > ReadMark.seen_seq, stmt.excluded.seen_seq),
                    else_=ReadMark.seen_seq,
                ),
                "seen_at": now,
            },
        )
    )
