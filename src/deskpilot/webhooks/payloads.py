"""The events of API.md 5, built from a conversation (or a crawl job) as it stands and
emitted in the caller's transaction. The services call these at the moment each thing
happens; when no endpoint of the org wants an event, the cost is one cached read of the
org's endpoints and nothing is built or written. A redaction scrubs the stored ones."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.agent.turn import DEFAULT_WEBHOOK_REASON, WEBHOOK_REASONS
from deskpilot.crawl.schemas import CrawlJobRead
from deskpilot.models import (
    ChatEvent,
    ChatSession,
    Contact,
    CrawlJob,
    OrgMembership,
    User,
    WebhookEvent,
    WidgetSettings,
    utcnow,
)
from deskpilot.models.conversation import REDACTED
from deskpilot.tenancy import org_scoped
from deskpilot.webhooks.service import conversation_events, emit, iso_millis, wanted_by

_VISIBLE_SENDERS = ("contact", "ai", "human_agent")
_RESPONSES = {
    "contact": "conversation.contact_response",
    "ai": "conversation.ai_response",
    "human_agent": "conversation.agent_response",
}
# Who may open a conversation: AI lines stored before the contact's first message (the
# widget's greetings) do not start it.
_OPENERS = ("contact", "human_agent")
TAKEOVER_REASON = "human_agent_decided_to_take_over"
_RESOLUTION = {"closed_resolved": "resolved", "closed_unresolved": "not_resolved"}


def webhook_channel(channel: str) -> str:
    """API.md 5: `phone_voice` goes out as OpenCX's `phone`."""
    return "phone" if channel == "phone_voice" else channel


async def history_event_added(db: AsyncSession, *, session: ChatSession, event: ChatEvent) -> None:
    """Called for every event appended to a session's history: messages (and the start of
    the conversation with its first one), handoffs and CSAT."""
    if event.type == "message":
        await _message(db, session, event)
    elif event.type == "handoff":
        reasons = list(session.handoff_reasons or [])
        reason = next(
            (WEBHOOK_REASONS[r] for r in reasons if r in WEBHOOK_REASONS), DEFAULT_WEBHOOK_REASON
        )
        await _handoff(db, session, event, reason=reason, reasons=reasons)
    elif event.type == "csat_requested":
        await _csat_requested(db, session, event)
    elif event.type == "csat_submitted":
        await _csat_submitted(db, session, event)


async def taken_over(db: AsyncSession, *, session: ChatSession, event: ChatEvent) -> None:
    """A human agent took the conversation from the AI (API.md 3.9's takeover reason)."""
    await _handoff(db, session, event, reason=TAKEOVER_REASON, reasons=[])


async def _wants(db: AsyncSession, session: ChatSession, event: str) -> bool:
    return bool(await wanted_by(db, org_id=session.org_id, event=event))


async def _message_count(db: AsyncSession, session: ChatSession) -> int:
    count = await db.scalar(
        org_scoped(ChatEvent, session.org_id)
        .where(
            ChatEvent.session_id == session.id,
            ChatEvent.type == "message",
            ChatEvent.sender_type.in_(_VISIBLE_SENDERS),
        )
        .with_only_columns(sa.func.count())
    )
    return int(count or 0)


async def _contact(db: AsyncSession, session: ChatSession) -> Contact | None:
    if session.contact_id is None:
        return None
    return await db.get(Contact, session.contact_id)


def _customer_id(session: ChatSession) -> str | None:
    return str(session.contact_id) if session.contact_id is not None else None


async def _ai_name(db: AsyncSession, org_id: uuid.UUID) -> str:
    name = await db.scalar(
        sa.select(WidgetSettings.bot_name).where(WidgetSettings.org_id == org_id)
    )
    return name or "AI"


async def _agent_email(db: AsyncSession, org_id: uuid.UUID, agent_id: int | None) -> str | None:
    """A dashboard user's email; agents of external systems have none here."""
    if agent_id is None:
        return None
    email: str | None = await db.scalar(
        sa.select(User.email)
        .join(OrgMembership, OrgMembership.user_id == User.id)
        .where(User.id == agent_id, OrgMembership.org_id == org_id)
    )
    return email


def _attachments(event: ChatEvent) -> list[dict[str, Any]]:
    """A file sent by URL keeps it; a stored one gets its Org API download URL when the
    delivery is made (the install's PUBLIC_URL is the dispatcher's to know)."""
    return [
        {
            "id": str(item["id"]),
            "name": str(item.get("name") or "attachment"),
            "size": item.get("size"),
            "type": item.get("type"),
            "url": item.get("url"),
        }
        for item in event.attachments or ()
    ]


async def _message(db: AsyncSession, session: ChatSession, event: ChatEvent) -> None:
    name = _RESPONSES.get(event.sender_type)
    if name is None:
        return
    opener = event.sender_type in _OPENERS and await _wants(db, session, "conversation.started")
    reply = await _wants(db, session, name)
    if not (opener or reply):
        return
    count, openers_before = await _tally(db, session, event)
    if opener and not openers_before:
        await emit(
            db,
            org_id=session.org_id,
            event="conversation.started",
            data=await _started(db, session, event),
            conversation_id=session.id,
        )
    if not reply:
        return
    data: dict[str, Any] = {
        "conversation_id": str(session.id),
        "timestamp": iso_millis(event.created_at),
        "customer_id": _customer_id(session),
        "message_id": str(event.id),
    }
    if event.sender_type == "contact":
        data |= {"message": event.text, "attachments": _attachments(event)}
    else:
        data["response"] = event.text
    data |= {
        "channel": webhook_channel(session.channel),
        "message_count": count,
        "language": session.language,
    }
    if event.sender_type == "human_agent":
        data["agent"] = {
            "id": event.sender_id,
            "name": event.sender_name,
            "email": await _agent_email(db, session.org_id, event.sender_id),
        }
    await emit(db, org_id=session.org_id, event=name, data=data, conversation_id=session.id)


async def _tally(db: AsyncSession, session: ChatSession, event: ChatEvent) -> tuple[int, int]:
    """In one query: the session's visible messages, and how many messages of a contact or
    an agent came before `event` (none: `event` opens the conversation)."""
    row = (
        await db.execute(
            org_scoped(ChatEvent, session.org_id)
            .where(
                ChatEvent.session_id == session.id,
                ChatEvent.type == "message",
                ChatEvent.sender_type.in_(_VISIBLE_SENDERS),
            )
            .with_only_columns(
                sa.func.count(),
                sa.func.count(
                    sa.case(
                        (
                            sa.and_(ChatEvent.sender_type.in_(_OPENERS), ChatEvent.seq < event.seq),
                            1,
                        )
                    )
                ),
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def _started(db: AsyncSession, session: ChatSession, event: ChatEvent) -> dict[str, Any]:
    contact = await _contact(db, session)
    assignee: dict[str, Any]
    if session.assignee_id is not None:
        assignee = {
            "id": session.assignee_id,
            "type": "human",
            "name": event.sender_name if event.sender_type == "human_agent" else None,
            "avatar_url": None,
        }
    else:
        assignee = {"type": "AI", "name": await _ai_name(db, session.org_id)}
    return {
        "conversation_id": str(session.id),
        "assignee": assignee,
        "contact": {
            "id": str(contact.id) if contact else None,
            "name": (contact.name or contact.non_verified_name) if contact else None,
            "enriched_data": {
                "address": None,
                "phone_number": contact.phone_number if contact else None,
                "email": (contact.email or contact.non_verified_email) if contact else None,
            },
            "custom_data": dict(contact.custom_data or {}) if contact else {},
        },
        "channel": webhook_channel(session.channel),
        "first_message": event.text,
        "timestamp": iso_millis(event.created_at),
    }


async def _handoff(
    db: AsyncSession,
    session: ChatSession,
    event: ChatEvent,
    *,
    reason: str,
    reasons: list[str],
) -> None:
    name = "conversation.handoff_to_human"
    if not await _wants(db, session, name):
        return
    data = {
        "conversation_id": str(session.id),
        "timestamp": iso_millis(event.created_at),
        "customer_id": _customer_id(session),
        "reason": reason,
        "summary": session.handoff_summary if reasons else None,
        "contact_reason": None,
        "user_sentiment": session.handoff_sentiment or session.sentiment,
        "was_handedoff_to_third_party": False,
        "third_party_name": None,
        "integration_metadata": None,
        "language": session.language,
        "message_count": await _message_count(db, session),
        "reasons": reasons,
    }
    await emit(db, org_id=session.org_id, event=name, data=data, conversation_id=session.id)


async def _csat_requested(db: AsyncSession, session: ChatSession, event: ChatEvent) -> None:
    name = "csat.requested"
    if not await _wants(db, session, name):
        return
    data = {
        "conversation_id": str(session.id),
        "timestamp": iso_millis(event.created_at),
        "customer_id": _customer_id(session),
        "channel": webhook_channel(session.channel),
    }
    await emit(db, org_id=session.org_id, event=name, data=data, conversation_id=session.id)


async def _csat_submitted(db: AsyncSession, session: ChatSession, event: ChatEvent) -> None:
    name = "csat.score_submitted"
    if not await _wants(db, session, name):
        return
    answer = event.context or {}
    data = {
        "conversation_id": str(session.id),
        "timestamp": iso_millis(event.created_at),
        "customer_id": _customer_id(session),
        "score": answer.get("score"),
        "feedback": answer.get("feedback"),
    }
    await emit(db, org_id=session.org_id, event=name, data=data, conversation_id=session.id)


async def conversation_closed(db: AsyncSession, *, session: ChatSession, event: ChatEvent) -> None:
    """Called once a close is complete (summary written, closer known): `event` is the
    `session_closed` history event, whose sender says who closed it."""
    name = "conversation.closed"
    if not await _wants(db, session, name):
        return
    contact = await _contact(db, session)
    closed_by: dict[str, Any]
    if event.sender_type == "ai":
        closed_by = {"type": "AI", "name": await _ai_name(db, session.org_id)}
    elif event.sender_type == "contact":
        closed_by = {"type": "contact", "id": _customer_id(session)}
    else:
        # The Org API (the org's own systems or staff): the assignee when there is one.
        closed_by = {
            "id": session.assignee_id,
            "type": "human",
            "email": await _agent_email(db, session.org_id, session.assignee_id),
        }
    outcome = _RESOLUTION.get(session.status)
    human_involved = session.assignee_id is not None or session.handoff_at is not None
    request = session.close_request or {}
    data = {
        "conversation_id": str(session.id),
        "timestamp": iso_millis(event.created_at),
        "contact_id": _customer_id(session),
        "contact": {
            "id": str(contact.id) if contact else None,
            "name": (contact.name or contact.non_verified_name) if contact else None,
            "email": (contact.email or contact.non_verified_email) if contact else None,
            "phone_number": contact.phone_number if contact else None,
            "custom_data": dict(contact.custom_data or {}) if contact else {},
        },
        "human_resolution_status": outcome if human_involved else None,
        "ai_resolution_status": (
            ("not_resolved" if session.handoff_at is not None else None)
            if human_involved
            else outcome
        ),
        "ai_billing_tier": None,
        "closed_by": closed_by,
        "is_from_third_party": False,
        "third_party_name": None,
        "summary": session.summary or session.handoff_summary,
        "contact_reason": None,
        "user_sentiment": session.sentiment,
        "language": session.language,
        "message_count": await _message_count(db, session),
        "payload": request.get("session_closed_payload") if event.sender_type == "system" else None,
    }
    await emit(db, org_id=session.org_id, event=name, data=data, conversation_id=session.id)


async def crawl_job_finished(db: AsyncSession, *, job: CrawlJob) -> None:
    """`crawl.job.completed` or `crawl.job.failed`, for the crawl job layer to call in the
    transaction that finishes the job; nothing for other statuses."""
    name = {"completed": "crawl.job.completed", "failed": "crawl.job.failed"}.get(job.status)
    if name is None or not await wanted_by(db, org_id=job.org_id, event=name):
        return
    data = {
        "datasource_id": str(job.datasource_id),
        "job": CrawlJobRead.model_validate(job).model_dump(mode="json"),
        "timestamp": iso_millis(job.completed_at or utcnow()),
    }
    await emit(db, org_id=job.org_id, event=name, data=data)


# --- redaction ----------------------------------------------------------------------------

# The payload fields that copy text a redaction takes out of the history (API.md 3.4): a
# message's text, the CSAT comment (the `csat_submitted` event's context) and, for a whole
# conversation only, the summaries. The contact's and agents' details stay, as they do in
# the history; so do ids, names, times and counts, which the delivery log and the order of
# delivery read.
_COPIED_TEXT = {
    "conversation.started": ("first_message",),
    "conversation.contact_response": ("message",),
    "conversation.ai_response": ("response",),
    "conversation.agent_response": ("response",),
    "csat.score_submitted": ("feedback",),
    "conversation.handoff_to_human": ("summary",),
    "conversation.closed": ("summary",),
}
_MESSAGE_EVENTS = frozenset(_RESPONSES.values())


def _scrub(row: WebhookEvent) -> None:
    """As the history keeps a redacted event: a text becomes REDACTED (none stays null), and
    the files are gone."""
    data = dict(row.data)
    for field in _COPIED_TEXT[row.event]:
        if data.get(field) is not None:
            data[field] = REDACTED
    if data.get("attachments"):
        data["attachments"] = []
    if data != row.data:
        row.data = data


async def session_redacted(db: AsyncSession, *, session: ChatSession) -> None:
    """In the transaction of `redact_session`: every stored payload of the conversation
    loses what its history lost. Deliveries still to be made (pending or retrying) read the
    payload when the dispatcher claims them, so from the commit on they send it scrubbed;
    so does a redelivery."""
    for row in await conversation_events(
        db, org_id=session.org_id, conversation_id=session.id, events=_COPIED_TEXT
    ):
        _scrub(row)
    await db.flush()


async def event_redacted(db: AsyncSession, *, session: ChatSession, event: ChatEvent) -> None:
    """In the transaction of `redact_event`: the payloads that copy that one event lose its
    text and files as in `session_redacted`: its message event, `conversation.started` when
    it opened the conversation, or the CSAT answer. The summaries stay, as in the history."""
    names: list[str] = []
    if event.type == "csat_submitted":
        names = ["csat.score_submitted"]
    elif event.type == "message" and event.sender_type in _RESPONSES:
        names = [_RESPONSES[event.sender_type]]
        if event.sender_type in _OPENERS:
            names.append("conversation.started")
    if not names:
        return
    rows = await conversation_events(
        db, org_id=session.org_id, conversation_id=session.id, events=names
    )
    for row in rows:
        if row.event in _MESSAGE_EVENTS and row.data.get("message_id") != str(event.id):
            continue
        if row.event == "conversation.started" and await _opener(db, session) != event.id:
            continue
        _scrub(row)
    await db.flush()


async def _opener(db: AsyncSession, session: ChatSession) -> uuid.UUID | None:
    """The message `conversation.started` was emitted with (see `_message`)."""
    found: uuid.UUID | None = await db.scalar(
        org_scoped(ChatEvent, session.org_id)
        .where(
            ChatEvent.session_id == session.id,
            ChatEvent.type == "message",
            ChatEvent.sender_type.in_(_OPENERS),
        )
        .order_by(ChatEvent.seq)
        .limit(1)
        .with_only_columns(ChatEvent.id)
    )
    return found
