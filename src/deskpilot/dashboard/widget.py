"""The chat widget (admins only): the snippet that embeds it (with the org's public widget
token), its settings (the service behind `GET`/`PATCH /widget-settings`) and a live
preview, the widget's own demo page in a frame, which loads again with every save."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, render
from deskpilot.dashboard.forms import MAX_TEXTAREA_CHARS, lines, or_null, parse_body
from deskpilot.deps import Db, State
from deskpilot.orgsettings import service as orgsettings
from deskpilot.orgsettings.schemas import WidgetSettingsUpdate

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WIDGET_PATH = "/settings/widget"


def embed_snippet(public_url: str, token: str) -> str:
    """What goes before `</body>` on the org's site (as the demo page shows it)."""
    options = json.dumps({"token": token})
    return (
        f'<script src="{public_url}/widget.js"></script>\n'
        f"<script>initOpenScript({options})</script>"
    )


@router.get(WIDGET_PATH, response_class=HTMLResponse)
async def widget_page(request: Request, staff: AdminStaff, db: Db, state: State) -> HTMLResponse:
    settings = await orgsettings.get_widget_settings(db, org_id=staff.org.id)
    token = staff.org.widget_token
    context: dict[str, Any] = {
        "title": "Widget",
        "nav": "settings",
        "section": "widget",
        "settings": settings,
        "snippet": embed_snippet(state.settings.PUBLIC_URL, token),
        "preview_url": f"/widget/demo?token={token}&inline=1",
    }
    return render(request, state, "widget.html", context, staff=staff)


@router.post(WIDGET_PATH)
async def save_widget_settings(
    staff: ActingAdmin,
    db: Db,
    initial_messages: Annotated[str, Form(max_length=MAX_TEXTAREA_CHARS)] = "",
    initial_questions: Annotated[str, Form(max_length=MAX_TEXTAREA_CHARS)] = "",
    bot_name: Annotated[str, Form(max_length=1000)] = "",
    bot_avatar_url: Annotated[str, Form(max_length=4096)] = "",
    primary_color: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """As `PATCH /widget-settings` with every field: an emptied name, avatar or colour is
    cleared; one line per greeting and per suggested question."""
    changes = parse_body(
        WidgetSettingsUpdate,
        {
            "initial_messages": lines(initial_messages),
            "initial_questions": lines(initial_questions),
            "bot_name": or_null(bot_name),
            "bot_avatar_url": or_null(bot_avatar_url),
            "primary_color": or_null(primary_color),
        },
    )
    await orgsettings.update_widget_settings(db, org_id=staff.org.id, changes=changes)
    return RedirectResponse(WIDGET_PATH, status_code=303)
