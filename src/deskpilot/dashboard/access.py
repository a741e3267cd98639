"""Who is signed in to the dashboard and what they may do, and how its pages answer: under
the partner's branding, with a strict Content-Security-Policy (a nonce per page), CSRF
checked on every state-changing request, and errors as branded HTML pages.

Roles: `admin` (the org's first member) and `agent`. Agents work the inbox; admin pages
refuse them with 403.
"""

from __future__ import annotations

import inspect
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.auth import service as auth_service
from deskpilot.deps import AppState, Db, State, get_state
from deskpilot.error_handlers import validation_message
from deskpilot.errors import DeskpilotError, PermissionDenied, RateLimited, Unauthorized
from deskpilot.models import Org, Partner, User
from deskpilot.partner.schemas import Branding
from deskpilot.partner.service import branding_of

SESSION_COOKIE = "dp_session"
DEFAULT_APP_NAME = "deskpilot"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ROLES = ("admin", "agent")

SIGN_IN_MESSAGE = (
    "Open the dashboard from the app you use: it sends you here with a single-use sign-in link."
)
CSRF_REFUSED = "This form has expired. Reload the page and try again."
ADMIN_ONLY = "Only an admin of this organization can open this page."

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_TITLES = {
    400: "Check what you entered",
    401: "Sign in",
    403: "Request refused",
    404: "Not found",
    409: "That can't be done now",
    429: "Slow down",
}


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in dashboard user, in the org their session opened."""

    signed_in: auth_service.SignedIn
    branding: Branding
    csrf_token: str

    @property
    def org(self) -> Org:
        return self.signed_in.org

    @property
    def user(self) -> User:
        return self.signed_in.user

    @property
    def role(self) -> str:
        return self.signed_in.role

    @property
    def is_admin(self) -> bool:
        return self.signed_in.role == "admin"


async def current_dashboard_session(
    request: Request, db: AsyncSession
) -> auth_service.SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await auth_service.find_signed_in(db, token=token)


async def current_staff(request: Request, db: Db, state: State) -> Staff:
    """The session behind the cookie (not expired, not signed out), or 401."""
    signed_in = await current_dashboard_session(request, db)
    if signed_in is None:
        raise Unauthorized(SIGN_IN_MESSAGE)
    partner_id = signed_in.org.partner_id
    partner = await db.get(Partner, partner_id) if partner_id is not None else None
    branding = branding_of(partner) if partner is not None else Branding()
    # Error pages raised after this point keep the partner's branding.
    request.state.dashboard_branding = branding
    return Staff(
        signed_in=signed_in,
        branding=branding,
        csrf_token=auth_service.csrf_token(state.secret_key, signed_in.session),
    )


CurrentStaff = Annotated[Staff, Depends(current_staff)]


async def admin_staff(staff: CurrentStaff) -> Staff:
    if not staff.is_admin:
        raise PermissionDenied(ADMIN_ONLY)
    return staff


AdminStaff = Annotated[Staff, Depends(admin_staff)]


async def submitted_csrf(request: Request) -> str:
    """The token from the `X-CSRF-Token` header (htmx) or the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return ""
    value = (await request.form()).get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


async def acting_staff(request: Request, staff: CurrentStaff, state: State) -> Staff:
    """For every state-changing request: the session's CSRF token must come with it."""
    token = await submitted_csrf(request)
    if not auth_service.csrf_valid(state.secret_key, staff.signed_in.session, token):
        raise PermissionDenied(CSRF_REFUSED)
    return staff


ActingStaff = Annotated[Staff, Depends(acting_staff)]


async def acting_admin(staff: ActingStaff) -> Staff:
    if not staff.is_admin:
        raise PermissionDenied(ADMIN_ONLY)
    return staff


ActingAdmin = Annotated[Staff, Depends(acting_admin)]


# --- rendering ----------------------------------------------------------------------------


def branding_context(branding: Branding | None) -> dict[str, object]:
    """What every page shows of the partner; a colour that is not plain hex is ignored, so
    nothing but a colour reaches the page's style."""
    branding = branding or Branding()
    color = branding.primary_color
    return {
        "app_name": branding.app_name or DEFAULT_APP_NAME,
        "logo_url": branding.logo_url,
        "support_email": branding.support_email,
        "primary_color": color if color and _HEX_COLOR.match(color) else None,
    }


def security_headers(nonce: str) -> dict[str, str]:
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' https: data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def render(
    request: Request,
    state: AppState,
    template: str,
    context: Mapping[str, object],
    *,
    staff: Staff | None = None,
    branding: Branding | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    values: dict[str, object] = {
        **branding_context(staff.branding if staff is not None else branding),
        "staff": staff,
        "csrf_token": staff.csrf_token if staff is not None else None,
        "csp_nonce": nonce,
        **context,
    }
    return state.templates.TemplateResponse(
        request,
        template,
        values,
        status_code=status_code,
        headers={**security_headers(nonce), **(headers or {})},
    )


def render_message(
    request: Request,
    state: AppState,
    *,
    title: str,
    message: str,
    status_code: int,
    branding: Branding | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        state,
        "message.html",
        {"title": title, "message": message},
        branding=branding,
        status_code=status_code,
        headers=headers,
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def set_session_cookie(
    response: Response, request: Request, state: AppState, *, name: str, token: str, path: str
) -> None:
    """A browser session's cookie: HttpOnly, SameSite=Lax, Secure under https, as long-lived
    as a dashboard session; the response that sets it is neither cached nor referred."""
    response.set_cookie(
        name,
        token,
        max_age=state.settings.DASHBOARD_SESSION_TTL_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or state.settings.PUBLIC_URL.startswith("https://"),
        path=path,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"


# --- errors -------------------------------------------------------------------------------


class PageRoute(APIRoute):
    """A dashboard route: its errors are pages, not the API's JSON."""


def page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RequestValidationError):
        errors = list(exc.errors())
        status_code, message = 400, validation_message(errors[0]) if errors else "Invalid request"
    elif isinstance(exc, DeskpilotError):
        status_code, message = exc.status_code, exc.message
    else:
        raise exc
    headers = exc.headers if isinstance(exc, RateLimited) else {}
    if is_htmx(request):
        # The page's script shows it in its notice area, as text.
        return PlainTextResponse(
            message, status_code=status_code, headers={**headers, "Cache-Control": "no-store"}
        )
    return render_message(
        request,
        get_state(request),
        title=_TITLES.get(status_code, "Something went wrong"),
        message=message,
        status_code=status_code,
        branding=getattr(request.state, "dashboard_branding", None),
        headers=headers,
    )


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def install_page_errors(app: FastAPI) -> None:
    """Dashboard routes answer errors with pages; every other route keeps its handler.
    The exception reaches the handler after the unit of work rolled back."""
    for exc_class in (DeskpilotError, RequestValidationError):
        fallback: Handler = app.exception_handlers[exc_class]

        async def handler(
            request: Request, exc: Exception, fallback: Handler = fallback
        ) -> Response:
            if isinstance(request.scope.get("route"), PageRoute):
                return page_error(request, exc)
            answer = fallback(request, exc)
            return await answer if inspect.isawaitable(answer) else answer

        app.add_exception_handler(exc_class, handler)
