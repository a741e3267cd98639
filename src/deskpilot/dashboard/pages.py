"""Dashboard pages (server-rendered): the branded home the login link lands on, and the
router that gathers the inbox, its live feed, the test console, the team page, knowledge,
contacts, API keys, the widget and the AI's settings."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from deskpilot.dashboard import (
    console,
    contacts,
    inbox,
    keys,
    knowledge,
    office_hours,
    partner_console,
    reports,
    service,
    settings,
    stream,
    team,
    training,
    widget,
)
from deskpilot.dashboard.access import (
    DEFAULT_APP_NAME,
    SESSION_COOKIE,
    CurrentStaff,
    PageRoute,
    current_dashboard_session,
    install_page_errors,
    render,
    render_message,
)
from deskpilot.dashboard.views import safe_url
from deskpilot.deps import Db, State

__all__ = [
    "DEFAULT_APP_NAME",
    "SESSION_COOKIE",
    "current_dashboard_session",
    "install_page_errors",
    "render_message",
    "router",
]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, staff: CurrentStaff, db: Db, state: State) -> HTMLResponse:
    counts = await service.inbox_counts(db, org_id=staff.org.id, user_id=staff.user.id)
    context = {
        "title": staff.org.name,
        "nav": "home",
        "org": staff.org,
        "website_url": safe_url(staff.org.website),
        "counts": counts,
    }
    return render(request, state, "home.html", context, staff=staff)


# The feed and the list before `/inbox/{session_id}`, which would take their names as ids.
router.include_router(stream.router)
router.include_router(inbox.router)
router.include_router(console.router)
router.include_router(team.router)
router.include_router(reports.router)
router.include_router(knowledge.router)
router.include_router(contacts.router)
router.include_router(keys.router)
router.include_router(widget.router)
router.include_router(settings.router)
router.include_router(training.router)
router.include_router(office_hours.router)
# The partner console: its own session, never an org's.
router.include_router(partner_console.router)
