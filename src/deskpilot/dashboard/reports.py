"""The reports page (agents and admins): conversations per day, how they ended, why they
were handed off, top tags and CSAT over the last 7, 30 or 90 days, drawn as inline SVG.
The numbers come from the same service functions as `GET /handoff-analytics`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from deskpilot.analytics import service as analytics
from deskpilot.analytics.schemas import reason_label
from deskpilot.dashboard import charts
from deskpilot.dashboard.access import CurrentStaff, PageRoute, render
from deskpilot.deps import Db, State
from deskpilot.errors import InvalidInput
from deskpilot.models import utcnow

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RANGES = (7, 30, 90)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OUTCOMES = (
    ("ai_resolved", "Resolved by the AI"),
    ("handed_off", "Handed off to the team"),
    ("taken_over", "Taken over by staff"),
    ("open_or_unresolved", "Open or closed unresolved"),
)


def _iso(moment: datetime) -> str:
    """A timestamp as the API prints it (UTC, milliseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _day_label(iso_day: str) -> str:
    """`2025-03-04` → `4 Mar`."""
    return f"{int(iso_day[8:10])} {MONTHS[int(iso_day[5:7]) - 1]}"


@router.get("/reports", response_class=HTMLResponse)
async def reports(
    request: Request,
    staff: CurrentStaff,
    db: Db,
    state: State,
    days: Annotated[int, Query()] = 30,
) -> HTMLResponse:
    if days not in RANGES:
        raise InvalidInput("days must be 7, 30 or 90")
    period = analytics.last_days(days, now=utcnow())
    handoffs = await analytics.handoff_analytics(
        db, org_id=staff.org.id, period=period, with_references=False
    )
    report = await analytics.conversation_report(db, org_id=staff.org.id, period=period)

    outcomes = report.outcomes
    total = outcomes.total
    per_day = charts.column_chart(
        [(_day_label(day.date), day.date) for day in report.days],
        [
            charts.Series(key, label, [getattr(day.outcomes, key) for day in report.days])
            for key, label in OUTCOMES
        ],
        unit="conversations started",
    )
    share = charts.share_bar(
        [
            (key, label, count, analytics.percentage(count, total))
            for key, label in OUTCOMES
            for count in [getattr(outcomes, key)]
        ]
    )
    reasons = charts.bar_list(
        [
            (_sentence_case(reason_label(r.reason)), r.count, f"({r.percentage}%)")
            for r in handoffs.reasons
        ]
    )
    tags = charts.bar_list(
        [
            (tag.name, tag.count, f"({analytics.percentage(tag.count, total)}%)")
            for tag in report.top_tags
        ]
    )
    csat = report.csat
    scores = charts.column_chart(
        [(str(score), f"Score {score}") for score in csat.distribution],
        [charts.Series("score", "ratings", list(csat.distribution.values()))],
        unit="ratings",
        width=410,
        height=200,
    )
    api_query = urlencode({"start_date": _iso(period.start), "end_date": _iso(period.end)})
    context = {
        "title": "Reports",
        "nav": "reports",
        "days": days,
        "ranges": RANGES,
        "period": period,
        "period_start": _iso(period.start),
        "period_end": _iso(period.end),
        "handoffs": handoffs,
        "report": report,
        "total": total,
        "handoff_rate": analytics.percentage(handoffs.total_handoffs, handoffs.total_sessions),
        "ai_share": analytics.percentage(outcomes.ai_resolved, total),
        "per_day": per_day,
        "share": share,
        "reasons": reasons,
        "tags": tags,
        "scores": scores,
        "outcomes": outcomes,
        "outcome_names": OUTCOMES,
        "api_query": api_query,
    }
    return render(request, state, "reports.html", context, staff=staff)
