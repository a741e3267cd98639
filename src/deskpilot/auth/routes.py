"""Browser sign-in: opening a login link (org dashboard) or a console link (partner
console), signing out of the dashboard."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response

from deskpilot.auth import service as auth_service
from deskpilot.dashboard.access import set_session_cookie, wants_html
from deskpilot.dashboard.pages import SESSION_COOKIE, current_dashboard_session, render_message
from deskpilot.dashboard.partner_console import CONSOLE_COOKIE, CONSOLE_PATH
from deskpilot.deps import AppState, Db, State
from deskpilot.errors import Gone
from deskpilot.schemas import ErrorBody

router = APIRouter(prefix="/auth", tags=["Dashboard sign-in"], include_in_schema=True)


@router.get(
    "/login/{token}",
    summary="Open a login link: sets the session cookie and lands on the dashboard",
    response_class=RedirectResponse,
    status_code=status.HTTP_303_SEE_OTHER,
    responses={410: {"model": ErrorBody, "description": "Used, expired or unknown link"}},
)
async def open_login_link(token: str, request: Request, db: Db, state: State) -> Response:
    try:
        opened = await auth_service.consume_login_link(
            db,
            token=token,
            session_ttl=timedelta(hours=state.settings.DASHBOARD_SESSION_TTL_HOURS),
        )
    except Gone as exc:
        return _unusable_link(request, state, exc)
    response = RedirectResponse(opened.redirect_path, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, request, state, name=SESSION_COOKIE, token=opened.token, path="/")
    return response


@router.get(
    "/console/{token}",
    summary="Open a partner console link: sets the console cookie and lands on the console",
    response_class=RedirectResponse,
    status_code=status.HTTP_303_SEE_OTHER,
    responses={410: {"model": ErrorBody, "description": "Used, expired or unknown link"}},
)
async def open_console_link(token: str, request: Request, db: Db, state: State) -> Response:
    try:
        opened = await auth_service.consume_console_link(
            db,
            token=token,
            session_ttl=timedelta(hours=state.settings.DASHBOARD_SESSION_TTL_HOURS),
        )
    except Gone as exc:
        return _unusable_link(request, state, exc)
    response = RedirectResponse(CONSOLE_PATH, status_code=status.HTTP_303_SEE_OTHER)
    # Sent to the console's pages only: it opens nothing else.
    set_session_cookie(
        response, request, state, name=CONSOLE_COOKIE, token=opened.token, path=CONSOLE_PATH
    )
    return response


def _unusable_link(request: Request, state: AppState, exc: Gone) -> Response:
    """A page for a person, the API's 410 for any other client."""
    if not wants_html(request):
        raise exc
    return render_message(
        request,
        state,
        title="This link can't be used",
        message=f"{exc.message}. Sign-in links work once and for 15 minutes: "
        "ask for a new one from the app you came from.",
        status_code=status.HTTP_410_GONE,
    )


@router.post("/logout", summary="Sign out of the dashboard", include_in_schema=False)
async def logout(request: Request, db: Db, state: State, csrf_token: str = Form("")) -> Response:
    signed_in = await current_dashboard_session(request, db)
    if signed_in is None:
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    if not auth_service.csrf_valid(state.secret_key, signed_in.session, csrf_token):
        if wants_html(request):
            return render_message(
                request,
                state,
                title="Request refused",
                message="This form has expired. Reload the page and try again.",
                status_code=status.HTTP_403_FORBIDDEN,
            )
        return JSONResponse(
            {"statusCode": 403, "message": "Invalid CSRF token", "error": "Forbidden"},
            status_code=status.HTTP_403_FORBIDDEN,
        )
    await auth_service.end_session(db, dashboard_session=signed_in.session)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
