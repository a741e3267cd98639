"""Widget API (API.md 4): the browser protocol of OpenCX's chat widget under
`/backend/widget/v2`, and `POST /widget/authenticate-user` (API.md 3.12) for org servers."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.agent.wait import COMPLETE_CONFIDENCE, wait_for_turn
from deskpilot.conversations import service as conversations
from deskpilot.conversations.attachments import AttachmentStore
from deskpilot.conversations.routes import attachment_store, event_attachments, event_sources
from deskpilot.conversations.schemas import MAX_ATTACHMENT_BYTES
from deskpilot.db import run_after_commit
from deskpilot.deps import AppState, ClientIP, CurrentOrg, Db, State
from deskpilot.errors import (
    InvalidInput,
    NotBuilt,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)
from deskpilot.models import ChatEvent, ChatSession, WidgetSession, utcnow
from deskpilot.orgsettings import service as orgsettings
from deskpilot.orgsettings.schemas import InputTimestamp
from deskpilot.schemas import error_responses
from deskpilot.widget import service, stream
from deskpilot.widget.deps import (
    CurrentViewer,
    WidgetOrg,
    apply_quota,
    widget_org,
    widget_viewer,
)
from deskpilot.widget.schemas import (
    ActionExecuteBody,
    Assignee,
    AuthenticatedUser,
    AuthenticateUser,
    AutopilotResponse,
    AutopilotValue,
    CheckpointBody,
    ContactRef,
    ContactToken,
    CreateUnverified,
    CsatBody,
    HistoryContent,
    HistorySender,
    HoursRange,
    OfficeHoursNow,
    OrgRef,
    PollResult,
    Prelude,
    Push,
    ResolveBody,
    SendErrorDetail,
    SendFailure,
    SendSuccess,
    SessionCreateBody,
    StreamTicketBody,
    StreamTicketRead,
    Success,
    UploadResult,
    VoteBody,
    VoteResult,
    WidgetConfig,
    WidgetHistory,
    WidgetSendBody,
    WidgetSessionPage,
    WidgetSessionRead,
)
from deskpilot.widget.service import SendRefused, SessionView, Viewer
from deskpilot.widget.tokens import (
    STREAM_TICKET_TTL,
    mint_contact_token,
    mint_stream_ticket,
    read_stream_ticket,
)

log = structlog.get_logger(__name__)

PREFIX = "/backend/widget/v2"
# chat/send waits this long for the AI (API.md 4.1).
WAIT_FOR_AI = 60.0
SESSIONS_POLLING_SECONDS = 30
SESSION_POLLING_SECONDS = 5
# Room for the multipart framing around a file of the largest allowed size.
UPLOAD_BODY_ALLOWANCE = MAX_ATTACHMENT_BYTES + 64 * 1024
# Images, PDF, text and office documents (API.md 4) [deskpilot]. Never SVG or HTML.
ALLOWED_UPLOAD_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)
# A declared image or PDF type must match the file's first bytes.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_UPLOAD_PATH = re.compile(rf"^{PREFIX}/upload(/v2)?/?$")
_FILTERS = TypeAdapter(dict[str, str])
_DAY_KEYS: dict[str, tuple[str, ...]] = {
    "monday_to_friday": ("WeekDays",),
    "everyday": ("Everyday",),
    "saturday_to_sunday": ("saturday", "sunday"),
}

router = APIRouter(
    prefix=PREFIX, tags=["Widget"], responses=error_responses(400, 401, 404, 429, 500)
)
auth_router = APIRouter(tags=["Widget"], responses=error_responses(400, 401, 409, 429, 500))


def body_limit(path: str, default: int) -> int:
    """The request body cap per path (BodySizeLimitMiddleware): uploads carry files."""
    return max(default, UPLOAD_BODY_ALLOWANCE) if _UPLOAD_PATH.match(path) else default


def upload_store(state: AppState) -> AttachmentStore:
    """Uploads waiting to be sent, one folder per org and contact."""
    return AttachmentStore(Path(state.settings.DATA_DIR) / "widget_uploads")


# --- shaping ------------------------------------------------------------------------------


def session_read(view: SessionView) -> WidgetSessionRead:
    session = view.session
    if session.assignee_id is not None:
        assignee = Assignee(kind="human", name=view.agent_name, avatarUrl=view.agent_avatar)
    elif session.handoff_at is not None:
        assignee = Assignee(kind="none", name=None, avatarUrl=None)
    else:
        assignee = Assignee(kind="ai", name=None, avatarUrl=None)
    return WidgetSessionRead(
        id=session.id,
        ticketNumber=session.ticket_number,
        createdAt=session.created_at,
        updatedAt=session.updated_at,
        isHandedOff=session.handoff_at is not None,
        isOpened=session.status == "open",
        assignee=assignee,
        channel=session.channel,
        isVerified=view.link.is_verified,
        lastMessage=view.last_message,
        modeId=None,
        latestStateCheckpointPayload=view.link.checkpoint,
    )


_WIDGET_TYPES = {
    "human_agent_joined": "agent_joined",
    "human_agent_takeover": "agent_took_session_from_ai",
    "session_reopened": "agent_reopened_session",
    "handoff": "handoff",
    "ai_resolved_issue": "ai_decided_to_resolve_the_issue",
    "csat_requested": "csat_requested",
    "csat_submitted": "csat_submitted",
}
_SENDER_KINDS = {"contact": "user", "ai": "ai", "human_agent": "agent", "system": "system"}


def _widget_type(event: ChatEvent) -> str:
    if event.type == "message":
        return "agent_message" if event.sender_type == "human_agent" else "message"
    if event.type == "session_closed":
        if event.sender_type == "ai":
            return "ai_assumed_the_session_resolved"
        if event.sender_type == "contact":
            return "user_confirmed_the_session_resolved"
        return "session_closed"  # closed by the team: OpenCX names no widget type for it
    return _WIDGET_TYPES.get(event.type, event.type)


def sender_avatar(event: ChatEvent) -> str | None:
    """A human agent's avatar, as the Org API's send gave it (kept in the event's context)."""
    if event.sender_type != "human_agent" or not event.context:
        return None
    avatar = event.context.get("sender_avatar_url")
    return avatar if isinstance(avatar, str) else None


def history_item(event: ChatEvent, *, public_url: str) -> WidgetHistory:
    attachments = event_attachments(
        event, download_base=f"{public_url}{PREFIX}/session/{event.session_id}/attachments"
    )
    payload = None
    if event.type in ("csat_requested", "csat_submitted"):
        payload = {"csatRequestId": str(event.id)} if event.type == "csat_requested" else None
    kind = _SENDER_KINDS.get(event.sender_type, "unknown")
    return WidgetHistory(
        publicId=event.id,
        type=_widget_type(event),
        content=HistoryContent(text=event.text),
        sender=HistorySender(kind=kind, name=event.sender_name, avatar=sender_avatar(event)),
        sentAt=event.created_at,
        attachments=attachments,
        systemMessagePayload=payload,
        sources=event_sources(event),
    )


async def _read(
    db: AsyncSession, org_id: uuid.UUID, session: ChatSession, link: WidgetSession
) -> WidgetSessionRead:
    views = await service.describe_sessions(db, org_id=org_id, rows=[(session, link)])
    return session_read(views[0])


# --- contact tokens -----------------------------------------------------------------------


@auth_router.post(
    "/widget/authenticate-user",
    status_code=status.HTTP_201_CREATED,
    summary="Mint a verified contact token (call from your server, never the browser)",
)
async def authenticate_user(
    body: AuthenticateUser, org: CurrentOrg, db: Db, state: State
) -> AuthenticatedUser:
    contact = await service.authenticate_user(db, org_id=org.id, data=body)
    token = mint_contact_token(
        state.secret_key, org_id=org.id, contact_id=contact.id, verified=True
    )
    return AuthenticatedUser(token=token, contact=ContactRef(id=contact.id))


@router.post(
    "/contact/create-unverified",
    status_code=status.HTTP_201_CREATED,
    summary="An unverified contact token for an anonymous or self-described visitor",
)
async def create_unverified(
    body: CreateUnverified,
    org: WidgetOrg,
    db: Db,
    state: State,
    request: Request,
    response: Response,
    ip: ClientIP,
) -> ContactToken:
    quota = await state.limiter.hit(
        "widget:create-unverified",
        str(ip),
        state.settings.RATE_LIMIT_WIDGET_CREATE_CONTACT_PER_MINUTE,
    )
    apply_quota(response, quota, request)
    contact = await service.create_unverified_contact(db, org_id=org.id, data=body)
    token = mint_contact_token(
        state.secret_key, org_id=org.id, contact_id=contact.id, verified=False
    )
    return ContactToken(token=token)


# --- config and prelude -------------------------------------------------------------------


@router.get("/config", summary="Widget configuration")
async def read_config(org: WidgetOrg) -> WidgetConfig:
    return WidgetConfig(
        org=OrgRef(id=org.id, name=org.name),
        sessionsPollingIntervalSeconds=SESSIONS_POLLING_SECONDS,
        sessionPollingIntervalSeconds=SESSION_POLLING_SECONDS,
        modes=[],
        push=Push(sse=True),
    )


def _hhmm(value: str) -> str:
    return value[:5]


@router.get("/prelude", summary="What the widget shows before the first message")
async def read_prelude(org: WidgetOrg, db: Db) -> Prelude:
    schedules = await orgsettings.list_schedules(db, org_id=org.id)
    default = next((s for s in schedules if s.is_default), None)
    office_hours: dict[str, HoursRange] = {}
    if default is not None:
        for shift in default.shifts:
            for key in _DAY_KEYS.get(shift.day_of_week, (shift.day_of_week,)):
                start, end = _hhmm(shift.start_time), _hhmm(shift.end_time)
                known = office_hours.get(key)
                if known is not None:  # one range per key: the span of the day's shifts
                    start, end = min(start, known.from_), max(end, known.to)
                office_hours[key] = HoursRange(from_=start, to=end)
    status_now = await orgsettings.office_hours_status(db, org_id=org.id, now=utcnow())
    mode = await orgsettings.channel_mode(db, org_id=org.id, channel="web")
    looks = await orgsettings.get_widget_settings(db, org_id=org.id)
    return Prelude(
        initialQuestions=looks.initial_questions,
        aiEnabled=mode != "off",
        officeHours=office_hours,
        officeHoursTimezone=default.iana_timezone if default is not None else None,
        organizationName=org.name,
        officeHoursStatus=OfficeHoursNow(
            isOpen=status_now.is_open, nextChangeAt=status_now.next_change_at
        ),
        initialMessages=looks.initial_messages,
        botName=looks.bot_name,
        botAvatarUrl=looks.bot_avatar_url,
        primaryColor=looks.primary_color,
    )


# --- sessions -----------------------------------------------------------------------------


def _filters(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        return _FILTERS.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise InvalidInput("filters must be a JSON object of strings") from exc


@router.get("/sessions", summary="The contact's sessions, newest first")
async def list_sessions(
    viewer: CurrentViewer,
    db: Db,
    filters: str | None = Query(default=None, max_length=10_000),
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> WidgetSessionPage:
    rows, next_cursor = await service.list_widget_sessions(
        db, viewer=viewer, cursor=cursor, limit=limit, filters=_filters(filters)
    )
    views = await service.describe_sessions(db, org_id=viewer.org_id, rows=rows)
    return WidgetSessionPage(items=[session_read(view) for view in views], next=next_cursor)


@router.post(
    "/create-session", status_code=status.HTTP_201_CREATED, summary="Open a web chat session"
)
async def create_session(
    body: SessionCreateBody, viewer: CurrentViewer, db: Db
) -> WidgetSessionRead:
    session, link = await service.create_widget_session(
        db, viewer=viewer, custom_data=body.customData
    )
    return await _read(db, viewer.org_id, session, link)


LastMessageTimestamp = Annotated[InputTimestamp | None, Query(alias="lastMessageTimestamp")]


@router.get("/session/history/{sessionId}", summary="Messages after a timestamp, oldest first")
async def read_history(
    sessionId: uuid.UUID,
    viewer: CurrentViewer,
    db: Db,
    state: State,
    last_message_timestamp: LastMessageTimestamp = None,
) -> list[WidgetHistory]:
    session, _ = await service.get_widget_session(db, viewer=viewer, session_id=sessionId)
    events = await service.list_widget_events(db, session=session, after=last_message_timestamp)
    public_url = state.settings.PUBLIC_URL
    return [history_item(event, public_url=public_url) for event in events]


@router.get("/poll/{sessionId}", summary="The session and its messages after a timestamp")
async def poll(
    sessionId: uuid.UUID,
    viewer: CurrentViewer,
    db: Db,
    state: State,
    last_message_timestamp: LastMessageTimestamp = None,
) -> PollResult:
    session, link = await service.get_widget_session(db, viewer=viewer, session_id=sessionId)
    events = await service.list_widget_events(db, session=session, after=last_message_timestamp)
    public_url = state.settings.PUBLIC_URL
    return PollResult(
        session=await _read(db, viewer.org_id, session, link),
        history=[history_item(event, public_url=public_url) for event in events],
    )


# --- send ---------------------------------------------------------------------------------


@router.post(
    "/chat/send",
    summary="Send the contact's message and wait (≤ 60 s) for the AI",
    response_model=SendSuccess | SendFailure,
    response_model_exclude_unset=True,
)
async def send_message(
    body: WidgetSendBody,
    org: WidgetOrg,
    viewer: CurrentViewer,
    db: Db,
    state: State,
    request: Request,
    response: Response,
) -> SendSuccess | SendFailure:
    try:
        if not hmac.compare_digest(body.bot_token.encode(), org.widget_token.encode()):
            raise SendRefused("invalid_request", "bot_token must equal X-Bot-Token")
        try:
            quota = await state.limiter.hit(
                "widget:send",
                str(viewer.contact_id),
                state.settings.RATE_LIMIT_WIDGET_SEND_PER_MINUTE,
            )
        except RateLimited as exc:
            response.headers.update(exc.headers)
            raise SendRefused("rate_limited", exc.message) from exc
        apply_quota(response, quota, request)
        event_id, _ = await service.send_message(
            db,
            viewer=viewer,
            body=body,
            queue=state.queue,
            store=attachment_store(state),
            uploads=upload_store(state),
        )
    except SendRefused as refused:
        return SendFailure(
            success=False, error=SendErrorDetail(code=refused.code, message=refused.message)
        )
    # Commit now (the turn must see the message), then wait outside the transaction.
    await db.commit()
    await run_after_commit(db)
    result = await wait_for_turn(state.sessionmaker, event_id=event_id, timeout=WAIT_FOR_AI)
    async with state.sessionmaker() as fresh:
        session, link = await service.get_widget_session(
            fresh, viewer=viewer, session_id=body.session_id
        )
        session_now = await _read(fresh, viewer.org_id, session, link)
    sent = SendSuccess(
        success=True,
        messageId=event_id,
        sessionIsHandedOff=result.handed_off,
        session=session_now,
    )
    if result.code is not None:
        sent.code = result.code
    if result.reply_id is not None:
        answered = result.decision == "answer"
        sent.autopilotResponse = AutopilotResponse(
            type="text",
            value=AutopilotValue(error=None, content=result.reply_text),
            id=result.reply_id,
            mightSolveUserIssue=answered,
            completelyAndFullyCoveredUserIssue=answered
            and (result.confidence or 0.0) >= COMPLETE_CONFIDENCE,
        )
    return sent


# --- resolve, vote, csat ------------------------------------------------------------------


@router.post("/session/resolve", summary="The contact confirms the issue is solved")
async def resolve_session(body: ResolveBody, viewer: CurrentViewer, db: Db) -> Success:
    await service.resolve_session(db, viewer=viewer, session_id=body.session_id)
    return Success(success=True)


@router.post("/checkpoint", summary="Store the widget's mode state for a session")
async def save_checkpoint(body: CheckpointBody, viewer: CurrentViewer, db: Db) -> Success:
    await service.save_checkpoint(
        db, viewer=viewer, session_id=body.session_id, payload=body.payload
    )
    return Success(success=True)


@router.post(
    "/action/execute",
    summary="Run an action from a form message (not built yet: actions, API.md 6)",
    responses=error_responses(501),
)
async def execute_action(body: ActionExecuteBody, viewer: CurrentViewer, db: Db) -> None:
    await service.get_widget_session(db, viewer=viewer, session_id=body.sessionId)
    raise NotBuilt("Actions are not available yet")


@router.post("/chat/vote", summary="Up- or downvote one of the AI's messages")
async def vote(body: VoteBody, viewer: CurrentViewer, db: Db) -> VoteResult:
    await service.vote(
        db,
        viewer=viewer,
        session_id=body.sessionId,
        event_id=body.messagePublicId,
        action=body.action,
    )
    return VoteResult(messagePublicId=body.messagePublicId, success=True)


@router.post(
    "/submit-csat",
    summary="Rate the conversation, once per session (409 after that)",
    responses=error_responses(409),
)
async def submit_csat(body: CsatBody, viewer: CurrentViewer, db: Db) -> Success:
    await service.submit_csat(
        db,
        viewer=viewer,
        session_id=body.session_id,
        score=body.score,
        feedback=body.feedback,
        system_message_uuid=body.system_message_uuid,
    )
    return Success(success=True)


# --- push (API.md 4.3) ---------------------------------------------------------------------


@router.post(
    "/stream-ticket",
    summary="A single-use, 60 s ticket to open the session's stream with EventSource",
)
async def create_stream_ticket(
    body: StreamTicketBody, viewer: CurrentViewer, db: Db, state: State
) -> StreamTicketRead:
    await service.get_widget_session(db, viewer=viewer, session_id=body.session_id)
    assert viewer.token_expires_at is not None
    ticket, expires_at = mint_stream_ticket(
        state.secret_key,
        org_id=viewer.org_id,
        contact_id=viewer.contact_id,
        verified=viewer.verified,
        device_id=viewer.device_id,
        contact_expires_at=viewer.token_expires_at,
        session_id=body.session_id,
    )
    return StreamTicketRead(ticket=ticket, expires_at=expires_at)


async def _ticket_viewer(
    db: AsyncSession, state: AppState, ticket: str, session_id: uuid.UUID
) -> tuple[Viewer, uuid.UUID]:
    claims = read_stream_ticket(state.secret_key, ticket)
    if claims.session_id != session_id:
        raise Unauthorized("Stream ticket is not valid for this session")
    org = await service.find_org(db, org_id=claims.org_id)
    contact = (
        await service.find_contact(db, org_id=org.id, contact_id=claims.contact_id)
        if org is not None
        else None
    )
    if org is None or contact is None:
        raise Unauthorized("Stream ticket is not valid")
    viewer = Viewer(
        org_id=org.id,
        contact=contact,
        verified=claims.verified,
        device_id=claims.device_id,
        token_expires_at=claims.contact_expires_at,
    )
    return viewer, claims.ticket_id


def _event_id(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.get(
    "/stream/{sessionId}",
    summary="Server-sent events of one session: messages, session changes, typing",
    # No response_class: errors before the stream opens stay documented as JSON.
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def open_stream(
    sessionId: uuid.UUID,
    request: Request,
    response: Response,
    db: Db,
    state: State,
    ip: ClientIP,
    ticket: Annotated[str | None, Query(max_length=4096)] = None,
    last_event_id: Annotated[str | None, Query(max_length=64)] = None,
) -> stream.EventStreamResponse:
    """Auth by the usual headers or `?ticket=`; failures are JSON errors sent before the
    stream opens. `Last-Event-ID` (or `last_event_id`) replays what came after it."""
    ticket_id = None
    if ticket is not None:
        viewer, ticket_id = await _ticket_viewer(db, state, ticket, sessionId)
    else:
        viewer = await widget_viewer(
            request, await widget_org(request, response, db, state, ip), db, state
        )
    quota = await state.limiter.hit(
        "widget:stream",
        str(viewer.contact_id),
        state.settings.RATE_LIMIT_WIDGET_STREAM_CONNECTS_PER_MINUTE,
    )
    apply_quota(response, quota, request)
    await state.limiter.hit(
        "widget:stream-org",
        str(viewer.org_id),
        state.settings.RATE_LIMIT_WIDGET_STREAM_CONNECTS_PER_ORG_PER_MINUTE,
    )
    session, _ = await service.get_widget_session(db, viewer=viewer, session_id=sessionId)
    if ticket_id is not None and not await state.events.claim_once(
        f"ticket:{ticket_id}", int(STREAM_TICKET_TTL.total_seconds()) + 5
    ):
        raise Unauthorized("Stream ticket was already used")
    # Without a resume point the client holds everything committed so far.
    after_seq = session.event_seq
    resume = _event_id(request.headers.get("last-event-id") or last_event_id)
    if resume is not None:
        found = await service.find_event_seq(db, session=session, event_id=resume)
        if found is not None:
            after_seq = found
    holder = uuid.uuid4().hex
    if not await state.events.acquire_slot(
        stream.slot_key(viewer), holder, stream.MAX_STREAMS_PER_CONTACT, stream.SLOT_TTL_SECONDS
    ):
        raise RateLimited(
            f"At most {stream.MAX_STREAMS_PER_CONTACT} streams per contact may be open",
            retry_after=int(stream.HEARTBEAT_SECONDS),
        )
    assert viewer.token_expires_at is not None
    public_url = state.settings.PUBLIC_URL
    plan = stream.StreamPlan(
        state=state,
        viewer=viewer,
        session_id=session.id,
        after_seq=after_seq,
        ends_at=viewer.token_expires_at,
        holder=holder,
        render_history=lambda event: history_item(event, public_url=public_url),
        render_session=session_read,
    )
    log.info("widget.stream_opened", session_id=str(session.id), after_seq=after_seq)
    return stream.EventStreamResponse(
        stream.frames(plan), headers={**dict(response.headers), **stream.SSE_HEADERS}
    )


# --- uploads ------------------------------------------------------------------------------


async def _read_upload(file: UploadFile) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(1024 * 1024):
        size += len(chunk)
        if size > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(f"file must be at most {MAX_ATTACHMENT_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _upload_type(file: UploadFile, data: bytes) -> str:
    declared = (file.content_type or "").split(";", 1)[0].strip().lower()
    if declared not in ALLOWED_UPLOAD_TYPES:
        raise InvalidInput("file type is not allowed: images, PDF, text and office documents")
    magic = _MAGIC.get(declared)
    if magic is not None and not data.startswith(magic):
        raise InvalidInput(f"file is not a valid {declared} file")
    if declared == "image/webp" and not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise InvalidInput("file is not a valid image/webp file")
    return declared


def _display_name(name: str | None) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    return name.strip()[:255] or "upload"


@router.post("/upload", summary="Upload a file to send with a message (≤ 10 MiB)")
@router.post("/upload/v2", summary="Upload a file to send with a message (≤ 10 MiB)")
async def upload(
    viewer: CurrentViewer, db: Db, state: State, file: Annotated[UploadFile, File()]
) -> UploadResult:
    data = await _read_upload(file)
    mime_type = _upload_type(file, data)
    created = await service.create_upload(
        db,
        viewer=viewer,
        uploads=upload_store(state),
        data=data,
        name=_display_name(file.filename),
        mime_type=mime_type,
    )
    return UploadResult(
        fileName=created.name,
        fileUrl=f"{state.settings.PUBLIC_URL}{PREFIX}/upload/{created.id}",
        id=created.id,
    )


def _file_response(path: Path, mime_type: str, name: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=mime_type,
        filename=name,
        content_disposition_type="attachment",
        # Never rendered on the API's origin, whatever the uploader called it.
        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/upload/{uploadId}",
    summary="Download one of the contact's own uploads [deskpilot]",
    response_class=FileResponse,
)
async def download_upload(
    uploadId: uuid.UUID, viewer: CurrentViewer, db: Db, state: State
) -> FileResponse:
    found = await service.find_upload(db, viewer=viewer, upload_id=uploadId)
    path = (
        upload_store(state).path_of(viewer.org_id, viewer.contact_id, found.file)
        if found is not None
        else None
    )
    if found is None or path is None or not path.is_file():
        raise NotFound("Upload not found")
    return _file_response(path, found.type, found.name)


@router.get(
    "/session/{sessionId}/attachments/{attachmentId}",
    summary="Download a file sent in one of the contact's sessions [deskpilot]",
    response_class=FileResponse,
)
async def download_attachment(
    sessionId: uuid.UUID, attachmentId: uuid.UUID, viewer: CurrentViewer, db: Db, state: State
) -> FileResponse:
    session, _ = await service.get_widget_session(db, viewer=viewer, session_id=sessionId)
    item = await conversations.find_attachment(db, session=session, attachment_id=str(attachmentId))
    path = attachment_store(state).path_of(session.org_id, session.id, str(item["file"]))
    if path is None or not path.is_file():
        raise NotFound("Attachment not found")
    return _file_response(
        path, str(item.get("type") or "application/octet-stream"), str(item.get("name"))
    )
