"""The org's API keys (admins only): those the partner minted and those made here (listed
as `dashboard`), creating one (its secret is on the answer to the form and nowhere else,
ever) and revoking one. The same key service as the Partner API's (API.md 2.4): at most
25 active keys, revocation immediate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, Staff, render
from deskpilot.dashboard.forms import parse_body, path_id
from deskpilot.deps import AppState, Db, State
from deskpilot.errors import Conflict
from deskpilot.org import service as org_service
from deskpilot.org.service import MAX_ACTIVE_KEYS
from deskpilot.partner.schemas import ApiKeyCreate

router = APIRouter(route_class=PageRoute, include_in_schema=False)

KEYS_PER_SCREEN = 50
CREATED_BY = "dashboard"
KEYS_PATH = "/settings/api-keys"


async def _render(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    cursor: str | None = None,
    created: org_service.CreatedKey | None = None,
) -> HTMLResponse:
    keys, next_cursor = await org_service.list_org_keys(
        db, org_id=staff.org.id, cursor=cursor, limit=KEYS_PER_SCREEN
    )
    context = {
        "title": "API keys",
        "nav": "settings",
        "section": "api-keys",
        "keys": keys,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "created": created,
        "max_keys": MAX_ACTIVE_KEYS,
    }
    return render(request, state, "api_keys.html", context, staff=staff)


@router.get(KEYS_PATH, response_class=HTMLResponse)
async def api_keys(
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    return await _render(request, state, staff, db, cursor=cursor)


@router.post(KEYS_PATH, response_class=HTMLResponse)
async def create_key(
    request: Request,
    staff: ActingAdmin,
    db: Db,
    state: State,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> HTMLResponse:
    """The answer is the page itself, with the secret: a redirect would have to carry it
    somewhere it could be read again."""
    body = parse_body(ApiKeyCreate, {"name": name})
    try:
        created = await org_service.create_org_key(
            db, org_id=staff.org.id, name=body.name, created_by=CREATED_BY
        )
    except Conflict as exc:
        raise Conflict(f"{exc.message}: revoke one you no longer use, then try again.") from exc
    return await _render(request, state, staff, db, created=created)


@router.post(KEYS_PATH + "/{key_id}/revoke")
async def revoke_key(key_id: str, staff: ActingAdmin, db: Db) -> Response:
    await org_service.revoke_org_key(db, org_id=staff.org.id, key_id=path_id(key_id, "API key"))
    return RedirectResponse(KEYS_PATH, status_code=303)
