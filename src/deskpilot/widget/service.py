"""The Widget API's rules: contact identity (verified across devices, unverified per
browser), which sessions a contact may see, idempotent sends, resolve, votes, CSAT and
uploads. Conversations themselves go through `deskpilot.conversations.service`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.contacts.schemas import MAX_CUSTOM_DATA_KEYS
from deskpilot.contacts.service import upsert_contact
from deskpilot.conversations import service as conversations
from deskpilot.conversations.attachments import AttachmentStore, stored_files
from deskpilot.conversations.schemas import ChannelRef, SessionCreate
from deskpilot.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from deskpilot.jobs import JobQueue
from deskpilot.models import (
    ChatEvent,
    ChatSession,
    Contact,
    Org,
    WidgetContactSettings,
    WidgetCsat,
    WidgetMessage,
    WidgetSession,
    WidgetUpload,
    WidgetVote,
    utcnow,
)
from deskpilot.pagination import apply_cursor, page_of
from deskpilot.tenancy import org_scoped
from deskpilot.webhooks import payloads as webhook_events
from deskpilot.widget.schemas import AuthenticateUser, CreateUnverified, WidgetSendBody

log = structlog.get_logger()

# Org history events the widget never shows (API.md 4.2).
HIDDEN_EVENTS = ("human_agent_comment",)
_VISIBLE_SENDERS = ("contact", "ai", "human_agent")
_ONE_MS = timedelta(milliseconds=1)
# [deskpilot] the largest `/checkpoint` payload, as compact JSON.
MAX_CHECKPOINT_CHARS = 32_000


@dataclass(frozen=True, slots=True)
class Viewer:
    """The contact behind a widget call, as its token says."""

    org_id: uuid.UUID
    contact: Contact
    verified: bool
    device_id: uuid.UUID  # the token's jti: one browser of an unverified visitor
    token_expires_at: datetime | None = None

    @property
    def contact_id(self) -> uuid.UUID:
        return self.contact.id


# --- identity -----------------------------------------------------------------------------


async def find_org_by_widget_token(db: AsyncSession, *, widget_token: str) -> Org | None:
    return (
        await db.scalars(
            sa.select(Org).where(Org.widget_token == widget_token, Org.deleted_at.is_(None))
        )
    ).first()


async def find_contact(
    db: AsyncSession, *, org_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact | None:
    return (await db.scalars(org_scoped(Contact, org_id).where(Contact.id == contact_id))).first()


async def authenticate_user(
    db: AsyncSession, *, org_id: uuid.UUID, data: AuthenticateUser
) -> Contact:
    """The org vouches for this person: created or updated by email, as verified data."""
    contact = await upsert_contact(
        db,
        org_id=org_id,
        verified=True,
        email=data.email,
        phone_number=data.phone,
        name=data.name,
        avatar_url=data.avatar_url,
        language=data.language,
        custom_data=data.customData,
    )
    if "chat_context" in data.model_fields_set or "http_action_overrides" in data.model_fields_set:
        settings = await db.get(WidgetContactSettings, contact.id)
        if settings is None:
            settings = WidgetContactSettings(contact_id=contact.id, org_id=org_id)
            db.add(settings)
        if "chat_context" in data.model_fields_set:
            settings.chat_context = data.chat_context
        if "http_action_overrides" in data.model_fields_set:
            overrides = data.http_action_overrides
            settings.http_action_overrides = (
                overrides.model_dump(exclude_none=True) if overrides is not None else None
            )
        settings.updated_at = utcnow()
        await db.flush()
    log.info("widget.contact_authenticated", org_id=str(org_id), contact_id=str(contact.id))
    return contact


async def create_unverified_contact(
    db: AsyncSession, *, org_id: uuid.UUID, data: CreateUnverified
) -> Contact:
    """What a visitor says about themselves lands in `non_verified_*` only."""
    return await upsert_contact(
        db,
        org_id=org_id,
        verified=False,
        email=data.email,
        name=data.non_verified_name,
        custom_data=data.non_verified_custom_data,
    )


# --- sessions -----------------------------------------------------------------------------


def _owned_by(viewer: Viewer) -> list[sa.ColumnElement[bool]]:
    """Verified: every verified session of the contact. Unverified: only this browser's."""
    where = [
        WidgetSession.org_id == viewer.org_id,
        WidgetSession.contact_id == viewer.contact_id,
        WidgetSession.is_verified.is_(viewer.verified),
    ]
    if not viewer.verified:
        where.append(WidgetSession.device_id == viewer.device_id)
    return where


@dataclass(frozen=True, slots=True)
class SessionView:
    session: ChatSession
    link: WidgetSession
    last_message: str | None
    # The assigned human agent as their latest event in the session names them.
    agent_name: str | None = None
    agent_avatar: str | None = None


async def create_widget_session(
    db: AsyncSession, *, viewer: Viewer, custom_data: Mapping[str, Any]
) -> tuple[ChatSession, WidgetSession]:
    session = await conversations.create_session(
        db,
        org_id=viewer.org_id,
        data=SessionCreate(
            contact_id=viewer.contact_id,
            channel=ChannelRef(type="web"),
            custom_data=dict(custom_data),
        ),
    )
    link = WidgetSession(
        session_id=session.id,
        org_id=viewer.org_id,
        contact_id=viewer.contact_id,
        is_verified=viewer.verified,
        device_id=None if viewer.verified else viewer.device_id,
    )
    db.add(link)
    await db.flush()
    return session, link


async def get_widget_session(
    db: AsyncSession, *, viewer: Viewer, session_id: uuid.UUID, for_update: bool = False
) -> tuple[ChatSession, WidgetSession]:
    """The viewer's session, or NotFound (another contact's, another org's, or none)."""
    stmt = (
        org_scoped(ChatSession, viewer.org_id)
        .join(WidgetSession, WidgetSession.session_id == ChatSession.id)
        .where(ChatSession.id == session_id, *_owned_by(viewer))
        .add_columns(WidgetSession)
    )
    if for_update:
        stmt = stmt.with_for_update(of=ChatSession)
    row = (await db.execute(stmt)).first()
    if row is None:
        raise NotFound("Chat session not found")
    return row[0], row[1]


async def list_widget_sessions(
    db: AsyncSession,
    *,
    viewer: Viewer,
    cursor: str | None,
    limit: int,
    filters: Mapping[str, str],
) -> tuple[list[tuple[ChatSession, WidgetSession]], str | None]:
    """Newest first; `filters` pairs must each equal the session's custom_data."""
    dialect = db.get_bind().dialect.name
    stmt = (
        org_scoped(ChatSession, viewer.org_id)
        .join(WidgetSession, WidgetSession.session_id == ChatSession.id)
        .where(*_owned_by(viewer))
        .where(*conversations.custom_data_matches(dialect, filters))
        .add_columns(WidgetSession)
    )
    stmt = apply_cursor(
        stmt, created_col=ChatSession.created_at, id_col=ChatSession.id, cursor=cursor, limit=limit
    )
    rows = [(row[0], row[1]) for row in await db.execute(stmt)]
    return page_of(rows, limit, lambda row: (row[0].created_at, row[0].id))


async def describe_sessions(
    db: AsyncSession, *, org_id: uuid.UUID, rows: Sequence[tuple[ChatSession, WidgetSession]]
) -> list[SessionView]:
    """One query for the latest visible message of any number of sessions."""
    ids = [session.id for session, _ in rows]
    texts: dict[uuid.UUID, str | None] = {}
    if ids:
        latest = (
            sa.select(ChatEvent.session_id, sa.func.max(ChatEvent.seq).label("seq"))
            .where(
                ChatEvent.org_id == org_id,
                ChatEvent.session_id.in_(ids),
                ChatEvent.type == "message",
                ChatEvent.sender_type.in_(_VISIBLE_SENDERS),
            )
            .group_by(ChatEvent.session_id)
            .subquery()
        )
        found = await db.execute(
            sa.select(ChatEvent.session_id, ChatEvent.text).join(
                latest,
                sa.and_(ChatEvent.session_id == latest.c.session_id, ChatEvent.seq == latest.c.seq),
            )
        )
        texts = {session_id: text for session_id, text in found.tuples()}
    agents = await _assigned_agents(db, org_id=org_id, sessions=[s for s, _ in rows])
    return [
        SessionView(session, link, texts.get(session.id), *agents.get(session.id, (None, None)))
        for session, link in rows
    ]


async def _assigned_agents(
    db: AsyncSession, *, org_id: uuid.UUID, sessions: Sequence[ChatSession]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """Name and avatar of each session's assigned agent, from the latest event of theirs."""
    assigned = {s.id: s.assignee_id for s in sessions if s.assignee_id is not None}
    if not assigned:
        return {}
    latest = (
        sa.select(ChatEvent.session_id, sa.func.max(ChatEvent.seq).label("seq"))
        .join(ChatSession, ChatSession.id == ChatEvent.session_id)
        .where(
            ChatEvent.org_id == org_id,
            ChatEvent.session_id.in_(list(assigned)),
            ChatEvent.sender_type == "human_agent",
            ChatEvent.sender_id == ChatSession.assignee_id,
        )
        .group_by(ChatEvent.session_id)
        .subquery()
    )
    found = await db.execute(
        sa.select(ChatEvent.session_id, ChatEvent.sender_name, ChatEvent.context).join(
            latest,
            sa.and_(ChatEvent.session_id == latest.c.session_id, ChatEvent.seq == latest.c.seq),
        )
    )
    agents = {}
    for session_id, name, context in found.tuples():
        avatar = (context or {}).get("sender_avatar_url")
        agents[session_id] = (name, avatar if isinstance(avatar, str) else None)
    return agents


async def list_widget_events(
    db: AsyncSession, *, session: ChatSession, after: datetime | None
) -> list[ChatEvent]:
    """Oldest first. `after` is a `sentAt` the client holds (millisecond precision): events
    of that millisecond were sent with it."""
    stmt = org_scoped(ChatEvent, session.org_id).where(
        ChatEvent.session_id == session.id, ChatEvent.type.not_in(HIDDEN_EVENTS)
    )
    if after is not None:
        floor = after.replace(microsecond=after.microsecond - after.microsecond % 1000)
        stmt = stmt.where(ChatEvent.created_at >= floor + _ONE_MS)
    return list(await db.scalars(stmt.order_by(ChatEvent.seq)))


async def find_org(db: AsyncSession, *, org_id: uuid.UUID) -> Org | None:
    return (
        await db.scalars(sa.select(Org).where(Org.id == org_id, Org.deleted_at.is_(None)))
    ).first()


async def find_event_seq(
    db: AsyncSession, *, session: ChatSession, event_id: uuid.UUID
) -> int | None:
    """The position of one of the session's events (a stream's `Last-Event-ID`)."""
    seq = await db.scalar(
        org_scoped(ChatEvent, session.org_id)
        .where(ChatEvent.session_id == session.id, ChatEvent.id == event_id)
        .with_only_columns(ChatEvent.seq)
    )
    return int(seq) if seq is not None else None


async def list_events_after(
    db: AsyncSession, *, org_id: uuid.UUID, session_id: uuid.UUID, after_seq: int, limit: int
) -> list[ChatEvent]:
    """Every event after `after_seq`, hidden ones included (the reader skips them but
    moves past them), oldest first."""
    stmt = org_scoped(ChatEvent, org_id).where(
        ChatEvent.session_id == session_id, ChatEvent.seq > after_seq
    )
    return list(await db.scalars(stmt.order_by(ChatEvent.seq).limit(limit)))


# --- send ---------------------------------------------------------------------------------


class SendRefused(Exception):
    """A business failure `chat/send` reports as `{success: false, error}` (API.md 4.1)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _sent_before(
    db: AsyncSession, session: ChatSession, client_uuid: uuid.UUID
) -> WidgetMessage | None:
    return (
        await db.scalars(
            org_scoped(WidgetMessage, session.org_id).where(
                WidgetMessage.session_id == session.id, WidgetMessage.client_uuid == client_uuid
            )
        )
    ).first()


async def _has_contact_message(db: AsyncSession, session: ChatSession) -> bool:
    found = await db.scalar(
        org_scoped(ChatEvent, session.org_id)
        .where(
            ChatEvent.session_id == session.id,
            ChatEvent.type == "message",
            ChatEvent.sender_type == "contact",
        )
        .with_only_columns(ChatEvent.id)
        .limit(1)
    )
    return found is not None


async def _attach_uploads(
    db: AsyncSession,
    *,
    viewer: Viewer,
    session: ChatSession,
    body: WidgetSendBody,
    uploads: AttachmentStore,
    store: AttachmentStore,
) -> list[dict[str, Any]]:
    """Each attachment must be one of the contact's uploads: its bytes are copied into the
    session's attachment folder, so the Org API serves them like any other attachment."""
    entries: list[dict[str, Any]] = []
    written: list[str] = []
    try:
        for item in body.attachments:
            upload_id = _upload_id(item.id)
            upload = None
            if upload_id is not None:
                upload = await find_upload(db, viewer=viewer, upload_id=upload_id)
            if upload is None:
                raise SendRefused("invalid_request", "attachments must come from /upload")
            path = uploads.path_of(viewer.org_id, viewer.contact_id, upload.file)
            if path is None or not path.is_file():
                raise SendRefused("invalid_request", "attachments must come from /upload")
            data = await asyncio.to_thread(path.read_bytes)
            file_name = await store.write(session.org_id, session.id, data)
            written.append(file_name)
            entries.append(
                {
                    "id": str(uuid.uuid4()),
                    "name": upload.name,
                    "type": upload.type,
                    "size": upload.size,
                    "url": None,
                    "file": file_name,
                }
            )
    except BaseException:
        await store.delete(session.org_id, session.id, written)
        raise
    return entries


def _upload_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def send_message(
    db: AsyncSession,
    *,
    viewer: Viewer,
    body: WidgetSendBody,
    queue: JobQueue,
    store: AttachmentStore,
    uploads: AttachmentStore,
) -> tuple[uuid.UUID, bool]:
    """Store the contact's message and queue the AI's turn. Returns the message's event id
    and whether it was stored by an earlier call with the same `uuid` (nothing new then).
    Raises SendRefused for the documented failures."""
    try:
        session, _ = await get_widget_session(
            db, viewer=viewer, session_id=body.session_id, for_update=True
        )
    except NotFound as exc:
        raise SendRefused("session_not_found", "Chat session not found") from exc
    earlier = await _sent_before(db, session, body.uuid)
    if earlier is not None:
        return earlier.event_id, True
    if session.status != "open":
        raise SendRefused("session_closed", "Chat session is closed")
    if body.custom_data:
        merged = {**(session.custom_data or {}), **body.custom_data}
        if len(merged) > MAX_CUSTOM_DATA_KEYS:
            raise SendRefused(
                "invalid_request", f"custom_data must have at most {MAX_CUSTOM_DATA_KEYS} keys"
            )
        session.custom_data = merged
    if body.initial_messages and not await _has_contact_message(db, session):
        for greeting in body.initial_messages:
            if await _sent_before(db, session, greeting.uuid) is not None:
                continue
            event = await conversations.append_event(
                db, session=session, type="message", sender_type="ai", text=greeting.content
            )
            db.add(
                WidgetMessage(
                    org_id=session.org_id,
                    session_id=session.id,
                    client_uuid=greeting.uuid,
                    event_id=event.id,
                )
            )
    attachments = await _attach_uploads(
        db, viewer=viewer, session=session, body=body, uploads=uploads, store=store
    )
    contact = viewer.contact
    try:
        event = await conversations.add_contact_message(
            db,
            session=session,
            queue=queue,
            text=body.content,
            sender_name=contact.name or contact.non_verified_name,
            attachments=attachments,
            context=body.clientContext,
        )
    except Conflict as exc:
        await store.delete(session.org_id, session.id, stored_files(attachments))
        raise SendRefused("session_closed", "Chat session is closed") from exc
    params = {
        key: value
        for key, value in (
            ("headers", body.headers),
            ("query_params", body.query_params),
            ("body_properties", body.body_properties),
        )
        if value
    }
    db.add(
        WidgetMessage(
            org_id=session.org_id,
            session_id=session.id,
            client_uuid=body.uuid,
            event_id=event.id,
            action_params=params or None,
        )
    )
    await db.flush()
    log.info("widget.message_sent", org_id=str(session.org_id), session_id=str(session.id))
    return event.id, False


# --- resolve, vote, csat ------------------------------------------------------------------


async def resolve_session(db: AsyncSession, *, viewer: Viewer, session_id: uuid.UUID) -> None:
    """The contact confirms it is solved: `closed_resolved`, logged with the contact as the
    sender (the widget shows `user_confirmed_the_session_resolved`). Closed stays closed."""
    session, _ = await get_widget_session(db, viewer=viewer, session_id=session_id, for_update=True)
    if session.status != "open":
        return
    event = await conversations.close_session(db, session=session, status="closed_resolved")
    if event is not None:
        event.sender_type = "contact"
        event.sender_name = viewer.contact.name or viewer.contact.non_verified_name
        await db.flush()
        await webhook_events.conversation_closed(db, session=session, event=event)


async def save_checkpoint(
    db: AsyncSession, *, viewer: Viewer, session_id: uuid.UUID, payload: dict[str, Any]
) -> None:
    """The widget's mode state for a session, echoed as `latestStateCheckpointPayload`."""
    if len(json.dumps(payload, separators=(",", ":"))) > MAX_CHECKPOINT_CHARS:
        raise PayloadTooLarge(f"payload must be at most {MAX_CHECKPOINT_CHARS} characters")
    _, link = await get_widget_session(db, viewer=viewer, session_id=session_id, for_update=True)
    link.checkpoint = payload
    await db.flush()


async def vote(
    db: AsyncSession, *, viewer: Viewer, session_id: uuid.UUID, event_id: uuid.UUID, action: str
) -> None:
    """A vote on one of the AI's messages; voting again replaces it."""
    session, _ = await get_widget_session(db, viewer=viewer, session_id=session_id)
    event = (
        await db.scalars(
            org_scoped(ChatEvent, session.org_id).where(
                ChatEvent.session_id == session.id,
                ChatEvent.id == event_id,
                ChatEvent.type == "message",
                ChatEvent.sender_type == "ai",
            )
        )
    ).first()
    if event is None:
        raise NotFound("Message not found")
    row = await db.get(WidgetVote, event.id)
    if row is None:
        db.add(
            WidgetVote(
                event_id=event.id, org_id=session.org_id, session_id=session.id, action=action
            )
        )
    else:
        row.action = action
        row.updated_at = utcnow()
    await db.flush()
    log.info("widget.voted", session_id=str(session.id), event_id=str(event.id), action=action)


async def submit_csat(
    db: AsyncSession,
    *,
    viewer: Viewer,
    session_id: uuid.UUID,
    score: int,
    feedback: str | None,
    system_message_uuid: uuid.UUID | None,
) -> None:
    """Once per session (409 after that); logs `csat_submitted` in the history."""
    session, _ = await get_widget_session(db, viewer=viewer, session_id=session_id, for_update=True)
    if await db.get(WidgetCsat, session.id) is not None:
        raise Conflict("CSAT was already submitted for this session")
    try:
        async with db.begin_nested():
            db.add(
                WidgetCsat(
                    session_id=session.id, org_id=session.org_id, score=score, feedback=feedback
                )
            )
    except IntegrityError as exc:  # a concurrent submission won
        raise Conflict("CSAT was already submitted for this session") from exc
    context: dict[str, Any] = {"score": score, "feedback": feedback}
    if system_message_uuid is not None:
        context["system_message_uuid"] = str(system_message_uuid)
    await conversations.append_event(
        db,
        session=session,
        type="csat_submitted",
        sender_type="contact",
        sender_name=viewer.contact.name or viewer.contact.non_verified_name,
        context=context,
    )
    log.info("widget.csat_submitted", session_id=str(session.id), score=score)


# --- uploads ------------------------------------------------------------------------------


async def create_upload(
    db: AsyncSession,
    *,
    viewer: Viewer,
    uploads: AttachmentStore,
    data: bytes,
    name: str,
    mime_type: str,
) -> WidgetUpload:
    if not data:
        raise InvalidInput("file must not be empty")
    file_name = await uploads.write(viewer.org_id, viewer.contact_id, data)
    upload = WidgetUpload(
        org_id=viewer.org_id,
        contact_id=viewer.contact_id,
        file=file_name,
        name=name,
        type=mime_type,
        size=len(data),
    )
    db.add(upload)
    await db.flush()
    return upload


async def find_upload(
    db: AsyncSession, *, viewer: Viewer, upload_id: uuid.UUID
) -> WidgetUpload | None:
    """Only the contact who uploaded a file may use or read it."""
    return (
        await db.scalars(
            org_scoped(WidgetUpload, viewer.org_id).where(
                WidgetUpload.id == upload_id, WidgetUpload.contact_id == viewer.contact_id
            )
        )
    ).first()
