"""The partner console: a partner's admins see the partner's orgs with their health badge and
activity, filter and search them, see an org's members, and jump into any org's dashboard as
its admin.

They arrive through a console link (`POST /partner/v1/console-links`). The console session
is a cookie and a table of its own, sent only to /partner-console: it opens no org page by
itself, and an org's dashboard session does not open the console. A jump mints an ordinary
login link (joining the org as admin) and sends the browser through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, cast, get_args

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot.auth import service as auth_service
from deskpilot.dashboard import service
from deskpilot.dashboard.access import CSRF_REFUSED, PageRoute, render, submitted_csrf
from deskpilot.dashboard.forms import path_id
from deskpilot.deps import Db, State
from deskpilot.errors import InvalidInput, PermissionDenied, Unauthorized
from deskpilot.models import Partner, User
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import Branding, OrgHealth

CONSOLE_PATH = "/partner-console"
CONSOLE_COOKIE = "dp_console"
ORGS_PER_SCREEN = 25
# Where a jump lands in the org's dashboard.
JUMP_PATH = "/inbox"
# The badges of API.md 2.3 in their order of precedence: "Setup incomplete" for setup_incomplete.
HEALTH_LABELS: dict[str, str] = {
    value: value.replace("_", " ").capitalize() for value in get_args(OrgHealth)
}

CONSOLE_SIGN_IN = (
    "Open the partner console from the platform you use: it sends you here with a "
    "single-use sign-in link."
)


@dataclass(frozen=True, slots=True)
class PartnerAdmin:
    """A partner's admin signed in to the partner console."""

    signed_in: auth_service.ConsoleSignedIn
    branding: Branding
    csrf_token: str

    @property
    def partner(self) -> Partner:
        return self.signed_in.partner

    @property
    def user(self) -> User:
        return self.signed_in.user


async def current_partner_admin(request: Request, db: Db, state: State) -> PartnerAdmin:
    """The console session behind the console cookie (not expired, not signed out, partner
    active), or 401. The org dashboard's cookie means nothing here."""
    token = request.cookies.get(CONSOLE_COOKIE)
    signed_in = await auth_service.find_console_signed_in(db, token=token) if token else None
    if signed_in is None:
        raise Unauthorized(CONSOLE_SIGN_IN)
    branding = partner_service.branding_of(signed_in.partner)
    # Error pages raised after this point keep the partner's branding.
    request.state.dashboard_branding = branding
    return PartnerAdmin(
        signed_in=signed_in,
        branding=branding,
        csrf_token=auth_service.csrf_token(state.secret_key, signed_in.session),
    )


CurrentPartnerAdmin = Annotated[PartnerAdmin, Depends(current_partner_admin)]


async def acting_partner_admin(
    request: Request, admin: CurrentPartnerAdmin, state: State
) -> PartnerAdmin:
    """For every state-changing request: the console session's CSRF token must come with it."""
    token = await submitted_csrf(request)
    if not auth_service.csrf_valid(state.secret_key, admin.signed_in.session, token):
        raise PermissionDenied(CSRF_REFUSED)
    return admin


ActingPartnerAdmin = Annotated[PartnerAdmin, Depends(acting_partner_admin)]


def _render(
    request: Request,
    state: State,
    template: str,
    context: Mapping[str, object],
    admin: PartnerAdmin,
) -> HTMLResponse:
    values = {"partner_admin": admin, "csrf_token": admin.csrf_token, **context}
    return render(request, state, template, values, branding=admin.branding)


# --- the console pages --------------------------------------------------------------------

router = APIRouter(prefix=CONSOLE_PATH, route_class=PageRoute, include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def org_list(
    request: Request,
    admin: CurrentPartnerAdmin,
    db: Db,
    state: State,
    health: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    if health and health not in HEALTH_LABELS:
        raise InvalidInput(f"health must be one of {', '.join(HEALTH_LABELS)}")
    search = q.strip() or None
    orgs, next_cursor = await partner_service.list_org_reads(
        db,
        partner_id=admin.partner.id,
        cursor=cursor,
        limit=ORGS_PER_SCREEN,
        health=cast(OrgHealth, health) if health else None,
        name_contains=search,
    )
    context = {
        "title": "Organizations",
        "nav": "orgs",
        "orgs": orgs,
        "health": health,
        "q": search,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "health_labels": HEALTH_LABELS,
    }
    return _render(request, state, "partner_console.html", context, admin)


@router.get("/orgs/{org_id}", response_class=HTMLResponse)
async def org_page(
    org_id: str, request: Request, admin: CurrentPartnerAdmin, db: Db, state: State
) -> HTMLResponse:
    org = await partner_service.get_own_org(
        db, partner_id=admin.partner.id, org_id=path_id(org_id, "Org")
    )
    (read,) = await partner_service.org_reads(db, orgs=[org])
    members = await service.list_members(db, org_id=org.id)
    context = {
        "title": org.name,
        "nav": "orgs",
        "org": read,
        "members": members,
        "health_labels": HEALTH_LABELS,
    }
    return _render(request, state, "partner_console_org.html", context, admin)


@router.post("/orgs/{org_id}/open")
async def open_org(org_id: str, admin: ActingPartnerAdmin, db: Db, state: State) -> Response:
    """Into the org's dashboard as its admin, through a login link of the login-link service."""
    org = await partner_service.get_own_org(
        db, partner_id=admin.partner.id, org_id=path_id(org_id, "Org")
    )
    issued = await auth_service.create_login_link(
        db,
        org_id=org.id,
        email=admin.user.email,
        name=admin.user.name,
        redirect_path=JUMP_PATH,
        ttl=timedelta(seconds=state.settings.LOGIN_LINK_TTL_SECONDS),
        role="admin",
    )
    response = RedirectResponse(
        f"/auth/login/{issued.token}", status_code=status.HTTP_303_SEE_OTHER
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/logout")
async def logout(admin: ActingPartnerAdmin, db: Db) -> Response:
    await auth_service.end_session(db, dashboard_session=admin.signed_in.session)
    response = RedirectResponse(CONSOLE_PATH, status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(CONSOLE_COOKIE, path=CONSOLE_PATH)
    return response
