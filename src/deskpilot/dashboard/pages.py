"""Dashboard pages (server-rendered). For now: the branded home the login link lands on."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse

from deskpilot.auth import service as auth_service
from deskpilot.deps import AppState, Db, State
from deskpilot.models import Partner
from deskpilot.partner.schemas import Branding
from deskpilot.partner.service import branding_of

SESSION_COOKIE = "dp_session"
DEFAULT_APP_NAME = "deskpilot"

router = APIRouter(include_in_schema=False)


async def current_dashboard_session(request: Request, db: Db) -> auth_service.SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await auth_service.find_signed_in(db, token=token)


def _page_context(branding: Branding | None) -> dict[str, object]:
    branding = branding or Branding()
    return {
        "app_name": branding.app_name or DEFAULT_APP_NAME,
        "logo_url": branding.logo_url,
        "support_email": branding.support_email,
    }


def render_message(
    request: Request,
    state: AppState,
    *,
    title: str,
    message: str,
    status_code: int,
    branding: Branding | None = None,
) -> HTMLResponse:
    return state.templates.TemplateResponse(
        request,
        "message.html",
        {**_page_context(branding), "title": title, "message": message},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, db: Db, state: State) -> HTMLResponse:
    signed_in = await current_dashboard_session(request, db)
    if signed_in is None:
        return render_message(
            request,
            state,
            title="Sign in",
            message="Open the dashboard from the app you use: it sends you here with a "
            "single-use sign-in link.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    partner = await db.get(Partner, signed_in.org.partner_id) if signed_in.org.partner_id else None
    branding = branding_of(partner) if partner else None
    return state.templates.TemplateResponse(
        request,
        "home.html",
        {
            **_page_context(branding),
            "org": signed_in.org,
            "user": signed_in.user,
            "role": signed_in.role,
            "csrf_token": auth_service.csrf_token(state.secret_key, signed_in.session),
        },
        headers={"Cache-Control": "no-store"},
    )
