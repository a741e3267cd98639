"""The embeddable chat widget's own files: `GET /widget.js` (cacheable, loadable from any
origin) and `GET /widget/demo?token=…`, a page that embeds one org's widget so it can be
tried in a browser at once."""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from deskpilot.deps import Db, State
from deskpilot.widget import service

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
# Embeds load /widget.js without a version in the URL: short freshness, then a cheap
# revalidation by ETag, so a new release reaches every site within minutes.
SCRIPT_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"
DEMO_LANGUAGES = ("en", "es", "fr", "de")
_WIDGET_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class Script:
    body: bytes
    gzipped: bytes
    etag: str  # of the plain body; the gzipped one is the same tag with `-gz`


@functools.lru_cache(maxsize=4)
def _load_script(path: Path, mtime_ns: int) -> Script:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Script(body=body, gzipped=gzip.compress(body, mtime=0), etag=f'"{digest}"')


def widget_script() -> Script:
    """The file as it is on disk now (re-read only when it changes)."""
    path = STATIC_DIR / "widget.js"
    return _load_script(path, path.stat().st_mtime_ns)


@functools.cache
def demo_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=TEMPLATES_DIR)


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=")
            try:
                return not params or float(quality) > 0
            except ValueError:
                return False
    return False


def _etag_matches(header: str | None, etags: tuple[str, ...]) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") in etags for tag in header.split(","))


@router.api_route("/widget.js", methods=["GET", "HEAD"])
async def read_widget_script(request: Request) -> Response:
    script = widget_script()
    zipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = f'{script.etag[:-1]}-gz"' if zipped else script.etag
    headers = {
        "Cache-Control": SCRIPT_CACHE_CONTROL,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        # Pages that isolate themselves (COEP) may still load it.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if _etag_matches(request.headers.get("if-none-match"), (script.etag, etag)):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    body = script.gzipped if zipped else script.body
    return Response(
        content=body if request.method == "GET" else b"",
        media_type="text/javascript; charset=utf-8",
        headers={**headers, "Content-Length": str(len(body))},
    )


def _demo_headers(nonce: str | None) -> dict[str, str]:
    # The pages also say `<meta name="referrer" content="no-referrer">`: the widget token is
    # in the URL (the app-wide Referrer-Policy header would come after a second one here).
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    if nonce is not None:
        # A strict policy, as careful sites have: the widget must work under it. Only this
        # install's own pages may frame it (the dashboard's widget preview).
        headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'nonce-{nonce}'; connect-src 'self'; "
            "img-src 'self' https: data: blob:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'self'"
        )
        headers["X-Frame-Options"] = "SAMEORIGIN"
    return headers


@router.get("/widget/demo", response_class=HTMLResponse)
async def widget_demo(
    request: Request,
    db: Db,
    state: State,
    token: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    inline: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """A page embedding the widget of the org whose (public) widget token is given."""
    templates = demo_templates()
    org = None
    if token and _WIDGET_TOKEN.match(token):
        org = await service.find_org_by_widget_token(db, widget_token=token)
    if org is None or token is None:
        return templates.TemplateResponse(
            request,
            "demo_missing.html",
            {},
            status_code=status.HTTP_404_NOT_FOUND,
            headers=_demo_headers(None),
        )
    options: dict[str, object] = {"token": token}
    if language in DEMO_LANGUAGES:
        options["language"] = language
    is_inline = inline in ("1", "true", "yes")
    if is_inline:
        options["inline"] = "#chat"
    script_path = request.url_for("read_widget_script").path
    nonce = secrets.token_urlsafe(16)
    return templates.TemplateResponse(
        request,
        "demo.html",
        {
            "org_name": org.name,
            "nonce": nonce,
            "script_path": script_path,
            "options": options,
            "inline": is_inline,
            "snippet_src": f"{state.settings.PUBLIC_URL}/widget.js",
            "token": token,
        },
        headers=_demo_headers(nonce),
    )
