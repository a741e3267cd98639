"""The dashboard's live feed: server-sent events on the org's bus channel. Each notice only
says which conversation changed (`change`); the page re-fetches what it shows, so the
database stays the source of truth. When the bus may have dropped notices it says `resync`,
and a page that reconnects refreshes everything.

The stream checks the browser session at every heartbeat and ends when it expires or is
signed out; it never outlives MAX_STREAM_SECONDS (EventSource reconnects by itself).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog
from fastapi import APIRouter, Request

from deskpilot import events
from deskpilot.auth import service as auth_service
from deskpilot.dashboard.access import SESSION_COOKIE, CurrentStaff, PageRoute
from deskpilot.deps import AppState, State
from deskpilot.errors import RateLimited
from deskpilot.widget.stream import SSE_HEADERS, EventStreamResponse, frame

log = structlog.get_logger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 30 * 60
RETRY_MILLISECONDS = 3000
# Tabs open at once per browser session.
MAX_STREAMS_PER_SESSION = 8
SLOT_TTL_SECONDS = 60


@dataclass(frozen=True, slots=True)
class FeedPlan:
    state: AppState
    org_id: uuid.UUID
    dashboard_session_id: uuid.UUID
    token: str
    ends_at: datetime
    holder: str


def _slot_key(dashboard_session_id: uuid.UUID) -> str:
    return f"dashboard-streams:{dashboard_session_id}"


async def _still_signed_in(plan: FeedPlan) -> bool:
    async with plan.state.sessionmaker() as db:
        signed_in = await auth_service.find_signed_in(db, token=plan.token)
    return signed_in is not None and signed_in.org.id == plan.org_id


async def feed(plan: FeedPlan) -> AsyncIterator[str]:
    bus = plan.state.events
    key = _slot_key(plan.dashboard_session_id)
    started = time.monotonic()
    lifetime = min(MAX_STREAM_SECONDS, (plan.ends_at - datetime.now(UTC)).total_seconds())
    ends = started + max(0.0, lifetime)
    try:
        async with bus.subscribe(events.org_channel(plan.org_id)) as subscription:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            yield frame("ready", {})
            next_ping = time.monotonic() + HEARTBEAT_SECONDS
            while True:
                now = time.monotonic()
                if now >= ends:
                    if not await _still_signed_in(plan):
                        yield frame("end", {"reason": "signed_out"})
                    return
                notice = await subscription.next(min(next_ping, ends) - now)
                if notice is None:
                    if time.monotonic() < next_ping:
                        continue
                    if not await _still_signed_in(plan):
                        yield frame("end", {"reason": "signed_out"})
                        return
                    yield ": ping\n\n"
                    await bus.refresh_slot(key, plan.holder, SLOT_TTL_SECONDS)
                    next_ping = time.monotonic() + HEARTBEAT_SECONDS
                elif notice.get("type") in ("history", "session_created"):
                    yield frame(
                        "change",
                        {
                            "session_id": str(notice.get("session_id", "")),
                            "event_type": str(notice.get("event_type", "session_created")),
                        },
                    )
                elif notice.get("type") == "resync":
                    yield frame("resync", {})
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await bus.release_slot(key, plan.holder)
            except Exception as exc:  # the slot expires on its own
                log.warning("dashboard.stream_slot_release_failed", error=str(exc))


@router.get("/inbox/stream")
async def open_feed(request: Request, staff: CurrentStaff, state: State) -> EventStreamResponse:
    """Cookie-authenticated; only the signed-in org's channel."""
    dashboard_session = staff.signed_in.session
    holder = uuid.uuid4().hex
    if not await state.events.acquire_slot(
        _slot_key(dashboard_session.id), holder, MAX_STREAMS_PER_SESSION, SLOT_TTL_SECONDS
    ):
        raise RateLimited(
            f"At most {MAX_STREAMS_PER_SESSION} live views may be open at once",
            retry_after=int(HEARTBEAT_SECONDS),
        )
    plan = FeedPlan(
        state=state,
        org_id=staff.org.id,
        dashboard_session_id=dashboard_session.id,
        token=request.cookies.get(SESSION_COOKIE, ""),
        ends_at=dashboard_session.expires_at,
        holder=holder,
    )
    return EventStreamResponse(feed(plan), headers={**SSE_HEADERS, "Cache-Control": "no-store"})
