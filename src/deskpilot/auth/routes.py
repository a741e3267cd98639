"""Browser sign-in: opening a login link, signing out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response

from deskpilot.auth import service as auth_service
from deskpilot.dashboard.pages import SESSION_COOKIE, current_dashboard_session, render_message
from deskpilot.deps import Db, State
from deskpilot.errors import Gone
from deskpilot.schemas import ErrorBody

router = APIRouter(prefix="/auth", tags=["Dashboard sign-in"], include_in_schema=True)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _is_secure(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


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
        if wants_html(request):
            return render_message(
                request,
                state,
                title="This link can't be used",
                message=f"{exc.message}. Sign-in links work once and for 15 minutes: "
                "ask for a new one from the app you came from.",
                status_code=status.HTTP_410_GONE,
            )
        raise
    response = RedirectResponse(opened.redirect_path, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=state.settings.DASHBOARD_SESSION_TTL_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=_is_secure(request, state.settings.PUBLIC_URL),
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


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
