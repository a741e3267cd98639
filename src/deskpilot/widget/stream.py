"""The widget's server-sent events stream of one session (API.md 4.3): missed messages
replayed from the database after `Last-Event-ID`, then live ones as the event bus
announces them, `typing` notices, the AI's reply as it is written (`delta`, [deskpilot]:
pieces the widget shows in a draft bubble until the stored `message` replaces it),
`session` changes and a `: ping` every 15 s.

Bus notices only say "something new": the frames are always read from the database by
`seq`, so a frame is never sent twice, never out of order, and a notice lost on the way
(a dropped Redis link, a slow reader) costs at most one heartbeat of delay.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog
from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from deskpilot import events
from deskpilot.deps import AppState
from deskpilot.errors import NotFound
from deskpilot.models import ChatEvent
from deskpilot.widget import service
from deskpilot.widget.service import HIDDEN_EVENTS, SessionView, Viewer

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 30 * 60
RETRY_MILLISECONDS = 3000
MAX_STREAMS_PER_CONTACT = 3
# A stream's slot outlives a missed heartbeat or two, not a dead process by much.
SLOT_TTL_SECONDS = 60
_REPLAY_BATCH = 200
# History events that change what the widget shows of the session itself.
SESSION_CHANGES = frozenset(
    {"handoff", "human_agent_takeover", "session_closed", "session_reopened"}
)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """Ends the stream as soon as the client goes away. Starlette stops listening for the
    disconnect on ASGI 2.4 servers and relies on a failing write, which uvicorn never
    reports: the stream would hold its slot until its 30 minutes are up."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def respond() -> None:
                try:
                    await self.stream_response(send)
                except OSError:
                    pass
                finally:
                    aclose = getattr(self.body_iterator, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()
                group.cancel_scope.cancel()

            group.start_soon(respond)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


def slot_key(viewer: Viewer) -> str:
    return f"streams:{viewer.org_id}:{viewer.contact_id}"


@dataclass(slots=True)
class StreamPlan:
    """What the route checked before the stream opens."""

    state: AppState
    viewer: Viewer
    session_id: uuid.UUID
    after_seq: int
    ends_at: datetime  # the contact token's expiry, or the 30 min cap
    holder: str  # this stream's slot
    render_history: Callable[[ChatEvent], BaseModel]
    render_session: Callable[[SessionView], BaseModel]


def frame(event: str | None, data: BaseModel | dict[str, object], id: str | None = None) -> str:
    body = data.model_dump_json(by_alias=True) if isinstance(data, BaseModel) else json.dumps(data)
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id:
        lines.append(f"id: {id}")
    lines.append(f"data: {body}")
    return "\n".join(lines) + "\n\n"


async def _still_visible(plan: StreamPlan) -> bool:
    """The org, the contact and the contact's access to the session all still exist."""
    viewer = plan.viewer
    async with plan.state.sessionmaker() as db:
        if await service.find_org(db, org_id=viewer.org_id) is None:
            return False
        contact = await service.find_contact(db, org_id=viewer.org_id, contact_id=viewer.contact_id)
        if contact is None:
            return False
        try:
            await service.get_widget_session(db, viewer=viewer, session_id=plan.session_id)
        except NotFound:
            return False
    return True


async def _catch_up(plan: StreamPlan, after_seq: int) -> tuple[int, list[str]]:
    """Frames for every event after `after_seq`, and the new position."""
    out: list[str] = []
    changed = False
    async with plan.state.sessionmaker() as db:
        while True:
            rows = await service.list_events_after(
                db,
                org_id=plan.viewer.org_id,
                session_id=plan.session_id,
                after_seq=after_seq,
                limit=_REPLAY_BATCH,
            )
            for row in rows:
                after_seq = row.seq
                if row.type in HIDDEN_EVENTS:
                    continue
                out.append(frame("message", plan.render_history(row), id=str(row.id)))
                changed = changed or row.type in SESSION_CHANGES
            if len(rows) < _REPLAY_BATCH:
                break
        if changed:
            try:
                session, link = await service.get_widget_session(
                    db, viewer=plan.viewer, session_id=plan.session_id
                )
            except NotFound:
                return after_seq, out
            views = await service.describe_sessions(
                db, org_id=plan.viewer.org_id, rows=[(session, link)]
            )
            out.append(frame("session", plan.render_session(views[0])))
    return after_seq, out


async def frames(plan: StreamPlan) -> AsyncIterator[str]:
    bus = plan.state.events
    viewer = plan.viewer
    channel = events.session_channel(viewer.org_id, plan.session_id)
    key = slot_key(viewer)
    started = time.monotonic()
    lifetime = min(MAX_STREAM_SECONDS, (plan.ends_at - datetime.now(UTC)).total_seconds())
    ends = started + max(0.0, lifetime)
    try:
        # Subscribed before the replay reads: whatever commits after that read is announced.
        async with bus.subscribe(channel) as subscription:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            seq, out = await _catch_up(plan, plan.after_seq)
            for item in out:
                yield item
            next_ping = time.monotonic() + HEARTBEAT_SECONDS
            while True:
                now = time.monotonic()
                if now >= ends:
                    return
                notice = await subscription.next(min(next_ping, ends) - now)
                if notice is None:
                    if time.monotonic() < next_ping:
                        continue  # the stream's end: checked at the top
                    if not await _still_visible(plan):
                        return
                    # Also the safety net for any notice that never arrived.
                    seq, out = await _catch_up(plan, seq)
                    for item in out:
                        yield item
                    yield ": ping\n\n"
                    await bus.refresh_slot(key, plan.holder, SLOT_TTL_SECONDS)
                    next_ping = time.monotonic() + HEARTBEAT_SECONDS
                elif notice.get("type") == "typing":
                    kind, active = notice.get("kind"), notice.get("active")
                    if kind in ("ai", "agent") and isinstance(active, bool):
                        yield frame("typing", {"kind": kind, "active": active})
                elif notice.get("type") == "delta":
                    text = notice.get("text")
                    if isinstance(text, str) and text:
                        yield frame("delta", {"kind": "ai", "text": text})
                elif notice.get("type") == "history" and int(notice.get("seq", 0)) <= seq:
                    continue  # already sent by a replay
                else:  # a history notice, or RESYNC after a gap
                    seq, out = await _catch_up(plan, seq)
                    for item in out:
                        yield item
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await bus.release_slot(key, plan.holder)
            except Exception as exc:  # the slot expires on its own
                log.warning("widget.stream_slot_release_failed", error=str(exc))
        log.info(
            "widget.stream_closed",
            session_id=str(plan.session_id),
            seconds=round(time.monotonic() - started, 1),
        )
