"""Org API: chat sessions (API.md 3.4): create, list, filter, read, update, send, history,
redaction, and the download of files sent as base64 attachments."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse

from deskpilot.agent.wait import COMPLETE_CONFIDENCE, TurnResult, wait_for_turn
from deskpilot.conversations import service
from deskpilot.conversations.attachments import AttachmentStore
from deskpilot.conversations.schemas import (
    MAX_ATTACHMENT_BYTES,
    AutopilotResponse,
    AutopilotValue,
    ChannelRead,
    HandoffRead,
    HistoryAttachment,
    HistoryContent,
    HistoryEvent,
    HistoryItem,
    HistorySender,
    HistorySource,
    ResolveArgs,
    SendBody,
    SendData,
    SendResult,
    SentMessage,
    SessionContactRead,
    SessionCreate,
    SessionCreated,
    SessionFilterBody,
    SessionPage,
    SessionRead,
    SessionStatus,
    SessionUpdate,
    TakeoverHistoryEvent,
)
from deskpilot.db import run_after_commit
from deskpilot.deps import AppState, CurrentOrg, Db, State
from deskpilot.errors import NotFound
from deskpilot.models import ChatEvent, ChatSession
from deskpilot.orgsettings.schemas import Channel, InputTimestamp
from deskpilot.pagination import CursorPage
from deskpilot.schemas import error_responses

# `send?wait_for_ai=true` waits this long for the AI's turn (API.md 3.4).
WAIT_FOR_AI = 60.0

router = APIRouter(tags=["Chat sessions"], responses=error_responses(400, 401, 404, 413, 429, 500))
Limit = Annotated[int, Query(ge=1, le=100)]
Bound = Annotated[InputTimestamp | None, Query(description="inclusive")]

_SEND_PATH = re.compile(r"^/chat/sessions/[^/]+/send/?$")
# Send may carry one attachment at its largest, base64-encoded, on top of an ordinary body.
# A message's base64 files share this allowance (URL attachments cost nothing): a bounded
# buffer per request rather than 10 x 10 MiB.
SEND_ATTACHMENT_ALLOWANCE = 4 * -(-MAX_ATTACHMENT_BYTES // 3)


def body_limit(path: str, default: int) -> int:
    """The request body cap per path (BodySizeLimitMiddleware): send carries files."""
    return default + SEND_ATTACHMENT_ALLOWANCE if _SEND_PATH.match(path) else default


def attachment_store(state: AppState) -> AttachmentStore:
    return AttachmentStore(Path(state.settings.DATA_DIR) / "attachments")


def session_read(view: service.SessionView) -> SessionRead:
    session, contact = view.session, view.contact
    handoff = None
    if session.handoff_at is not None:
        handoff = HandoffRead(
            summary=session.handoff_summary,
            sentiment=session.handoff_sentiment,
            reasons=list(session.handoff_reasons or []),
            explanation=session.handoff_explanation,
            created_at=session.handoff_at,
        )
    return SessionRead(
        id=session.id,
        ticket_number=session.ticket_number,
        status=session.status,
        ai_closure_type=session.ai_closure_type,
        sentiment=session.sentiment,
        channel=ChannelRead(type=session.channel),
        language=session.language,
        assist_mode=session.assist_mode,
        assignee_id=session.assignee_id,
        contact=(
            SessionContactRead(
                id=contact.id,
                email=contact.email,
                phone_number=contact.phone_number,
                name=contact.name,
                custom_data=contact.custom_data or {},
                non_verified_name=contact.non_verified_name,
                non_verified_email=contact.non_verified_email,
                non_verified_custom_data=contact.non_verified_custom_data or {},
            )
            if contact is not None
            else None
        ),
        custom_data=session.custom_data or {},
        handoff=handoff,
        tags=view.tags,
        last_message_at=session.last_message_at,
        created_at=session.created_at,
        updated_at=session.updated_at,
    )


def event_attachments(event: ChatEvent, *, download_base: str) -> list[HistoryAttachment]:
    """An event's files; stored ones are served under `download_base`/{attachment id}."""
    return [
        HistoryAttachment(
            id=str(item["id"]),
            name=str(item.get("name") or "attachment"),
            size=item.get("size"),
            type=item.get("type"),
            url=item.get("url") or f"{download_base}/{item['id']}",
        )
        for item in event.attachments or ()
    ]


def event_sources(event: ChatEvent) -> list[HistorySource]:
    return [
        HistorySource(url=str(c.get("url", "")), title=str(c.get("title", "")))
        for c in event.citations or ()
    ]


def history_item(event: ChatEvent, *, public_url: str) -> HistoryItem:
    attachments = event_attachments(
        event, download_base=f"{public_url}/chat/sessions/{event.session_id}/attachments"
    )
    fields = {
        "type": event.type,
        "sender": HistorySender(type=event.sender_type, name=event.sender_name),
        "content": HistoryContent(text=event.text),
        "attachments": attachments,
        "context": event.context,
        "sources": event_sources(event),
    }
    if event.type == "human_agent_takeover" and event.sender_id is not None:
        return HistoryItem(
            id=event.id,
            created_at=event.created_at,
            event=TakeoverHistoryEvent(**fields, human_agent_id=event.sender_id),
        )
    return HistoryItem(id=event.id, created_at=event.created_at, event=HistoryEvent(**fields))


async def _read(db: Db, org_id: uuid.UUID, session: ChatSession) -> SessionRead:
    views = await service.describe_sessions(db, org_id=org_id, sessions=[session])
    return session_read(views[0])


@router.post("/chat/sessions", status_code=status.HTTP_201_CREATED, summary="Create a session")
async def create_session(body: SessionCreate, org: CurrentOrg, db: Db) -> SessionCreated:
    session = await service.create_session(db, org_id=org.id, data=body)
    return SessionCreated(id=session.id)


@router.get("/chat/sessions", summary="List sessions, newest first")
async def list_sessions(
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    handed_off: bool | None = None,
    status: SessionStatus | None = None,
    channel_type: Channel | None = None,
    created_after: Bound = None,
    created_before: Bound = None,
    updated_after: Bound = None,
    updated_before: Bound = None,
) -> CursorPage[SessionRead]:
    rows, next_cursor = await service.list_sessions(
        db,
        org_id=org.id,
        cursor=cursor,
        limit=limit,
        handed_off=handed_off,
        status=status,
        channel_type=channel_type,
        created_after=created_after,
        created_before=created_before,
        updated_after=updated_after,
        updated_before=updated_before,
    )
    views = await service.describe_sessions(db, org_id=org.id, sessions=rows)
    return CursorPage(items=[session_read(view) for view in views], next=next_cursor)


@router.post("/chat/sessions/filter", summary="Filter sessions, one page at a time")
async def filter_sessions(body: SessionFilterBody, org: CurrentOrg, db: Db) -> SessionPage:
    rows, has_next = await service.filter_sessions(
        db,
        org_id=org.id,
        filters=body.filters,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        page=body.page,
        limit=body.limit,
    )
    views = await service.describe_sessions(db, org_id=org.id, sessions=rows)
    return SessionPage(
        data=[session_read(view) for view in views],
        page=body.page,
        limit=body.limit,
        has_next=has_next,
        has_previous=body.page > 1,
    )


@router.get("/chat/sessions/{session_id}", summary="A session")
async def read_session(session_id: uuid.UUID, org: CurrentOrg, db: Db) -> SessionRead:
    session = await service.get_session(db, org_id=org.id, session_id=session_id)
    return await _read(db, org.id, session)


@router.patch(
    "/chat/sessions/{session_id}",
    summary="Close, reopen, tag or assign a session (omitted fields unchanged)",
)
async def update_session(
    session_id: uuid.UUID, body: SessionUpdate, org: CurrentOrg, db: Db
) -> SessionRead:
    session = await service.get_session(db, org_id=org.id, session_id=session_id, for_update=True)
    await service.update_session(db, session=session, changes=body)
    return await _read(db, org.id, session)


@router.post(
    "/chat/sessions/{session_id}/send",
    summary="Send a message as the contact or a human agent (409: contact on a closed session)",
    response_model_exclude_unset=True,
    responses=error_responses(409),
)
async def send_message(
    session_id: uuid.UUID,
    body: SendBody,
    org: CurrentOrg,
    db: Db,
    state: State,
    wait_for_ai: Annotated[
        bool, Query(description="wait up to 60 s for the AI's turn and include its reply")
    ] = False,
) -> SendResult:
    # Locked (PostgreSQL): custom_data and contact merges are read-modify-write.
    session = await service.get_session(db, org_id=org.id, session_id=session_id, for_update=True)
    event = await service.send_message(
        db, session=session, data=body, queue=state.queue, store=attachment_store(state)
    )
    sent = SentMessage(id=event.id)
    if not wait_for_ai or body.sender != "contact":
        return SendResult(success=True, data=SendData(message=sent))
    # Commit now (the turn must see the message), then wait outside the transaction.
    event_id = event.id
    await db.commit()
    await run_after_commit(db)
    result = await wait_for_turn(state.sessionmaker, event_id=event_id, timeout=WAIT_FOR_AI)
    return SendResult(success=True, data=_sync_fields(sent, result))


def _sync_fields(sent: SentMessage, result: TurnResult) -> SendData:
    """OpenCX's older synchronous reply fields."""
    data = SendData(message=sent, code=result.code, sessionIsHandedOff=result.handed_off)
    if result.reply_id is not None:
        answered = result.decision == "answer"
        data.autopilotResponse = AutopilotResponse(
            value=AutopilotValue(content=result.reply_text, error=None),
            id=result.reply_id,
            mightSolveUserIssue=answered,
            completelyAndFullyCoveredUserIssue=answered
            and (result.confidence or 0.0) >= COMPLETE_CONFIDENCE,
        )
    if result.handed_off:
        data.resolveArgs = ResolveArgs(summary=result.summary, sentiment=result.sentiment)
    return data


@router.get("/chat/sessions/{session_id}/history", summary="The session's events, oldest first")
async def read_history(
    session_id: uuid.UUID,
    org: CurrentOrg,
    db: Db,
    state: State,
    cursor: str | None = None,
    limit: Limit = 25,
) -> CursorPage[HistoryItem]:
    session = await service.get_session(db, org_id=org.id, session_id=session_id)
    rows, next_cursor = await service.list_history(db, session=session, cursor=cursor, limit=limit)
    public_url = state.settings.PUBLIC_URL
    return CursorPage(
        items=[history_item(event, public_url=public_url) for event in rows], next=next_cursor
    )


@router.post(
    "/chat/sessions/{session_id}/redact",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Redact every message of the session, irreversibly",
)
async def redact_session(session_id: uuid.UUID, org: CurrentOrg, db: Db, state: State) -> Response:
    session = await service.get_session(db, org_id=org.id, session_id=session_id)
    await service.redact_session(db, session=session, store=attachment_store(state))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/chat/sessions/{session_id}/messages/{message_id}/redact",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Redact one message, irreversibly",
)
async def redact_message(
    session_id: uuid.UUID, message_id: uuid.UUID, org: CurrentOrg, db: Db, state: State
) -> Response:
    session = await service.get_session(db, org_id=org.id, session_id=session_id)
    await service.redact_event(
        db, session=session, event_id=message_id, store=attachment_store(state)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/chat/sessions/{session_id}/attachments/{attachment_id}",
    summary="Download a file sent as a base64 attachment [deskpilot]",
    response_class=FileResponse,
    responses={200: {"content": {"*/*": {}}, "description": "The file, as its sender typed it"}},
)
async def download_attachment(
    session_id: uuid.UUID, attachment_id: uuid.UUID, org: CurrentOrg, db: Db, state: State
) -> FileResponse:
    session = await service.get_session(db, org_id=org.id, session_id=session_id)
    item = await service.find_attachment(db, session=session, attachment_id=str(attachment_id))
    path = attachment_store(state).path_of(session.org_id, session.id, str(item["file"]))
    if path is None or not path.is_file():
        raise NotFound("Attachment not found")
    return FileResponse(
        path,
        media_type=str(item.get("type") or "application/octet-stream"),
        filename=str(item.get("name") or "attachment"),
        content_disposition_type="attachment",
        # Never rendered on the API's origin, whatever the sender called it.
        headers={"Content-Security-Policy": "sandbox"},
    )
