"""The inbox: conversations with filters and unread counts, one conversation's transcript
and the actions staff take in it (take over, reply, note, assign, tag, resolve, reopen,
hand back to the AI). Every action calls the same conversations service the Org API does,
so the widget's push, webhooks and the history see a dashboard action like any other.

htmx posts get the refreshed conversation panel back; a form posted without JavaScript is
redirected to the conversation.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.conversations import service as conversations
from deskpilot.conversations.routes import attachment_store
from deskpilot.conversations.schemas import (
    AgentInput,
    MessageInput,
    MessageText,
    SendBody,
    SessionUpdate,
)
from deskpilot.dashboard import service
from deskpilot.dashboard.access import (
    ActingStaff,
    CurrentStaff,
    PageRoute,
    Staff,
    is_htmx,
    render,
)
from deskpilot.dashboard.views import debug_view, event_view
from deskpilot.deps import AppState, Db, State
from deskpilot.error_handlers import validation_message
from deskpilot.errors import InvalidInput, NotFound
from deskpilot.models import ChatSession
from deskpilot.orgsettings.schemas import CHANNELS
from deskpilot.orgsettings.service import list_tags

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_MESSAGE_TEXT: TypeAdapter[str] = TypeAdapter(MessageText)
ShortQuery = Annotated[str | None, Query(max_length=200)]


def parse_session_id(value: str) -> uuid.UUID:
    """A malformed id is a conversation that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("Chat session not found") from exc


def message_text(value: str, field: str) -> str:
    try:
        return _MESSAGE_TEXT.validate_python(value)
    except ValidationError as exc:
        error = dict(exc.errors()[0])
        error["loc"] = (field,)
        raise InvalidInput(validation_message(error)) from exc


def inbox_filters(
    view: ShortQuery = None,
    channel: ShortQuery = None,
    tag: ShortQuery = None,
    assignee: ShortQuery = None,
    q: ShortQuery = None,
) -> service.InboxFilters:
    """The inbox's filters from the query string (a dependency of every inbox page). Unknown
    values are dropped rather than refused: these come from the address bar."""
    chosen = view if view in service.INBOX_VIEWS else "open"
    return service.InboxFilters(
        view=chosen,
        channel=channel if channel in CHANNELS else None,
        tag=tag.strip() if tag and tag.strip() else None,
        assignee=assignee if assignee in ("me", "none") or (assignee or "").isdigit() else None,
        search=q.strip() if q and q.strip() else None,
    )


Filters = Annotated[service.InboxFilters, Depends(inbox_filters)]


def filters_query(filters: service.InboxFilters, **extra: str | None) -> str:
    """The filters as a query string, defaults left out."""
    values = {
        "view": filters.view if filters.view != "open" else None,
        "channel": filters.channel,
        "tag": filters.tag,
        "assignee": filters.assignee,
        "q": filters.search,
        **extra,
    }
    return urlencode({key: value for key, value in values.items() if value})


async def _inbox_context(
    db: Db,
    staff: Staff,
    filters: service.InboxFilters,
    *,
    cursor: str | None,
    selected: uuid.UUID | None,
) -> dict[str, Any]:
    rows, next_cursor = await service.list_inbox(
        db, org_id=staff.org.id, user_id=staff.user.id, filters=filters, cursor=cursor
    )
    members = await service.list_members(db, org_id=staff.org.id)
    counts = await service.inbox_counts(db, org_id=staff.org.id, user_id=staff.user.id)
    tab_specs: tuple[tuple[service.InboxView, str, int | None], ...] = (
        ("open", "Open", counts.open),
        ("handed_off", "Handed off", counts.handed_off),
        ("resolved", "Resolved", counts.resolved),
        ("all", "All", None),
    )
    tabs = [
        {
            "view": view,
            "label": label,
            "count": count,
            "query": filters_query(dataclasses.replace(filters, view=view)),
        }
        for view, label, count in tab_specs
    ]
    return {
        "tabs": tabs,
        "rows": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "filters": filters,
        "query": filters_query(filters),
        "list_query": filters_query(
            filters, cursor=cursor, open=str(selected) if selected else None
        ),
        "counts": counts,
        "members": {member.user_id: member for member in members},
        "member_list": members,
        "tags": [tag.tag_name for tag in await list_tags(db, org_id=staff.org.id)],
        "channels": CHANNELS,
        "selected": selected,
        "contact_label": service.contact_label,
    }


async def _conversation_context(
    db: Db, staff: Staff, session: ChatSession, members: list[service.Member]
) -> dict[str, Any]:
    conversation = await service.describe_conversation(db, session=session)
    by_id = {member.user_id: member for member in members}
    await service.mark_read(db, session=session, user_id=staff.user.id)
    assignee = session.assignee_id
    return {
        "conversation": conversation,
        "session": session,
        "contact": conversation.contact,
        "contact_name": service.contact_label(conversation.contact),
        "events": [event_view(event, by_id) for event in conversation.events],
        "assignee": by_id.get(assignee) if assignee is not None else None,
        "member_list": members,
        "org_tags": [tag.tag_name for tag in await list_tags(db, org_id=staff.org.id)],
        "debug_view": debug_view,
    }


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    staff: CurrentStaff,
    db: Db,
    state: State,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    context = await _inbox_context(db, staff, filters, cursor=cursor, selected=None)
    return render(
        request, state, "inbox.html", {**context, "title": "Inbox", "nav": "inbox"}, staff=staff
    )


@router.get("/inbox/list", response_class=HTMLResponse)
async def inbox_list(
    request: Request,
    staff: CurrentStaff,
    db: Db,
    state: State,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    open_id: Annotated[str | None, Query(alias="open", max_length=64)] = None,
) -> HTMLResponse:
    """The list alone, for the live refresh (`open`: the conversation shown beside it)."""
    selected = None
    if open_id:
        try:
            selected = uuid.UUID(open_id)
        except ValueError:
            selected = None
    context = await _inbox_context(db, staff, filters, cursor=cursor, selected=selected)
    # The tabs' counts change with the list: htmx swaps them in out of band.
    context["refresh"] = True
    return render(request, state, "_partials/conversation_list.html", context, staff=staff)


@router.get("/inbox/{session_id}", response_class=HTMLResponse)
async def conversation_page(
    session_id: str,
    request: Request,
    staff: CurrentStaff,
    db: Db,
    state: State,
    filters: Filters,
) -> HTMLResponse:
    session = await conversations.get_session(
        db, org_id=staff.org.id, session_id=parse_session_id(session_id)
    )
    context = await _inbox_context(db, staff, filters, cursor=None, selected=session.id)
    context.update(await _conversation_context(db, staff, session, context["member_list"]))
    title = f"#{session.ticket_number}"
    return render(
        request, state, "inbox.html", {**context, "title": title, "nav": "inbox"}, staff=staff
    )


@router.get("/inbox/{session_id}/live", response_class=HTMLResponse)
async def conversation_live(
    session_id: str, request: Request, staff: CurrentStaff, db: Db, state: State
) -> HTMLResponse:
    """The conversation's panel alone (transcript, state, actions), for the live refresh."""
    session = await conversations.get_session(
        db, org_id=staff.org.id, session_id=parse_session_id(session_id)
    )
    return await _panel(request, state, staff, db, session)


async def _panel(
    request: Request, state: AppState, staff: Staff, db: Db, session: ChatSession
) -> HTMLResponse:
    members = await service.list_members(db, org_id=staff.org.id)
    context = await _conversation_context(db, staff, session, members)
    return render(request, state, "_partials/conversation.html", context, staff=staff)


@dataclasses.dataclass(frozen=True, slots=True)
class ConversationAction:
    """A staff action on one conversation: who acts, and the conversation, locked in the
    request's transaction."""

    request: Request
    state: AppState
    staff: Staff
    db: AsyncSession
    session: ChatSession

    async def done(self) -> Response:
        """The refreshed panel for htmx; a plain form is sent back to the conversation."""
        if is_htmx(self.request):
            return await _panel(self.request, self.state, self.staff, self.db, self.session)
        # What the user just did is not news to them.
        await service.mark_read(self.db, session=self.session, user_id=self.staff.user.id)
        return RedirectResponse(f"/inbox/{self.session.id}", status_code=303)


async def conversation_action(
    session_id: str, request: Request, staff: ActingStaff, db: Db, state: State
) -> ConversationAction:
    session = await conversations.get_session(
        db, org_id=staff.org.id, session_id=parse_session_id(session_id), for_update=True
    )
    return ConversationAction(request, state, staff, db, session)


Acting = Annotated[ConversationAction, Depends(conversation_action)]


@router.post("/inbox/{session_id}/messages")
async def post_message(
    action: Acting,
    text: Annotated[str, Form(max_length=20_000)] = "",
    kind: Annotated[str, Form(max_length=10)] = "reply",
) -> Response:
    """A reply to the contact (the widget gets it at once) or an internal note."""
    session, user = action.session, action.staff.user
    if kind == "note":
        await conversations.append_event(
            action.db,
            session=session,
            type="human_agent_comment",
            sender_type="human_agent",
            sender_id=user.id,
            sender_name=user.name,
            text=message_text(text, "note"),
        )
    elif kind == "reply":
        body = SendBody(
            sender="agent",
            message=MessageInput(text=message_text(text, "reply")),
            agent=AgentInput(id=user.id, name=user.name),
            # Answering a conversation nobody owns takes it from the AI.
            should_take_over_session_from_ai=session.assignee_id is None,
        )
        state = action.state
        await conversations.send_message(
            action.db, session=session, data=body, queue=state.queue, store=attachment_store(state)
        )
    else:
        raise InvalidInput("kind must be reply or note")
    return await action.done()


@router.post("/inbox/{session_id}/takeover")
async def take_over(action: Acting) -> Response:
    user = action.staff.user
    await conversations.assign_session(
        action.db, session=action.session, assignee_id=user.id, agent_name=user.name
    )
    return await action.done()


@router.post("/inbox/{session_id}/assign")
async def assign(action: Acting, assignee_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    """To a member of the org, or to nobody (the conversation waits for the team)."""
    db, session = action.db, action.session
    if not assignee_id:
        await conversations.assign_session(db, session=session, assignee_id=None)
    else:
        if not assignee_id.isdigit() or int(assignee_id) >= 2**31:
            raise InvalidInput("assignee must be a member of the organization")
        try:
            member = await service.get_member(
                db, org_id=action.staff.org.id, user_id=int(assignee_id)
            )
        except NotFound as exc:
            raise InvalidInput("assignee must be a member of the organization") from exc
        await conversations.assign_session(
            db, session=session, assignee_id=member.user_id, agent_name=member.name
        )
    return await action.done()


@router.post("/inbox/{session_id}/handback")
async def hand_back(action: Acting) -> Response:
    await conversations.hand_back_to_ai(action.db, session=action.session)
    return await action.done()


@router.post("/inbox/{session_id}/resolve")
async def resolve(action: Acting) -> Response:
    changes = SessionUpdate(
        status="closed_resolved", generate_summary_and_sentiment_on_resolve=True
    )
    await conversations.update_session(action.db, session=action.session, changes=changes)
    return await action.done()


@router.post("/inbox/{session_id}/reopen")
async def reopen(action: Acting) -> Response:
    changes = SessionUpdate(status="open")
    await conversations.update_session(action.db, session=action.session, changes=changes)
    return await action.done()


@router.post("/inbox/{session_id}/tags")
async def change_tags(
    action: Acting,
    add: Annotated[str, Form(max_length=100)] = "",
    remove: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Add one of the org's tags, or remove one the conversation has."""
    session = action.session
    described = await conversations.describe_sessions(
        action.db, org_id=action.staff.org.id, sessions=[session]
    )
    names = list(described[0].tags)
    if add.strip():
        names.append(add.strip())
    if remove.strip():
        key = remove.strip().casefold()
        names = [name for name in names if name.casefold() != key]
    await conversations.set_session_tags(action.db, session=session, names=names)
    return await action.done()
