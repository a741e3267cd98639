"""Pure ASGI middleware: request ids and access logs, the request body size cap, and CORS
for the widget's paths."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger()

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
HTML_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-Id, bound to every log line) and logs
    one line per request. Query strings are never logged: they can carry tokens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                given = dict(headers)
                content_type = given.get(b"content-type", b"")
                # A page that says who may frame it (the widget demo, framed by the
                # dashboard's preview) keeps its word; every other page may not be framed.
                if content_type.startswith(b"text/html") and b"x-frame-options" not in given:
                    headers.extend(HTML_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope["path"]
            # Login-link tokens live in the path: keep them out of the logs.
            if path.startswith("/auth/login/"):
                path = "/auth/login/…"
            log.info(
                "http.request",
                method=scope["method"],
                path=path,
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )


def first_unstorable_text(value: object, path: str = "body") -> str | None:
    """The path of the first string holding a NUL or a lone surrogate: neither can be stored
    as text by PostgreSQL (nor is either ever meant), so both are refused up front."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = first_unstorable_text(key, path) or first_unstorable_text(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = first_unstorable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


async def _send_error(send: Send, status: int, message: str, error: str) -> None:
    body = json.dumps({"statusCode": status, "message": message, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, whether announced by Content-Length or not,
    and text the database could not store (NUL, lone surrogates) with 400."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, limit_for: Callable[[str], int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limit_for = limit_for

    async def _too_large(self, send: Send, limit: int) -> None:
        message = f"Request body must not be larger than {limit} bytes"
        await _send_error(send, 413, message, "Payload Too Large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await _send_error(send, 400, "The URL must not contain NUL characters", "Bad Request")
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"]) if self.limit_for else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await self._too_large(send, limit)
                    return
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if b"json" in content_type and (b"\\u" in body or b"\x00" in body):
            try:
                bad = first_unstorable_text(json.loads(body))
            except (ValueError, RecursionError):
                bad = None  # malformed JSON: the route's own parsing says so
            if bad:
                await _send_error(
                    send,
                    400,
                    f"{bad.removeprefix('body.')} must not contain NUL characters "
                    "or unpaired surrogates",
                    "Bad Request",
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class PathCORSMiddleware:
    """CORS for some paths only: the widget runs on the customer's site, so its API and
    script answer any origin; the Org and Partner APIs and the dashboard stay same-origin.
    Credentials are never allowed (the widget sends tokens in headers, not cookies)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: tuple[str, ...],
        allow_headers: list[str],
        expose_headers: list[str],
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=allow_headers,
            expose_headers=expose_headers,
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
