"""Org API: handoff analytics (API.md 3.11), an overview of why conversations went to the
team and the list of those handoffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deskpilot.analytics import service
from deskpilot.analytics.schemas import HandoffAnalyticsRead, HandoffEventPage, HandoffReason
from deskpilot.deps import CurrentOrg, Db
from deskpilot.models import utcnow
from deskpilot.orgsettings.schemas import InputTimestamp
from deskpilot.schemas import error_responses

router = APIRouter(tags=["Handoff analytics"], responses=error_responses(400, 401, 429, 500))
Limit = Annotated[int, Query(ge=1, le=100)]
Start = Annotated[
    InputTimestamp | None, Query(description="inclusive; default: 30 days before end_date")
]
End = Annotated[InputTimestamp | None, Query(description="inclusive; default: now")]


@router.get(
    "/handoff-analytics",
    summary="Why conversations were handed off, over a period of up to 366 days",
)
async def handoff_analytics(
    org: CurrentOrg, db: Db, start_date: Start = None, end_date: End = None
) -> HandoffAnalyticsRead:
    period = service.resolve_period(start=start_date, end=end_date, now=utcnow())
    return await service.handoff_analytics(db, org_id=org.id, period=period)


@router.get("/handoff-analytics/events", summary="The period's handoffs, latest first")
async def handoff_events(
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    reason: HandoffReason | None = None,
    start_date: Start = None,
    end_date: End = None,
) -> HandoffEventPage:
    period = service.resolve_period(start=start_date, end=end_date, now=utcnow())
    items, next_cursor, total = await service.list_handoffs(
        db, org_id=org.id, period=period, reason=reason, cursor=cursor, limit=limit
    )
    return HandoffEventPage(items=items, next=next_cursor, total=total)
