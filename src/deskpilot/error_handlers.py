"""Renders every failure as `{statusCode, message, error}` (the dashboard gets an HTML page)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from deskpilot.errors import DeskpilotError, RateLimited, reason_phrase

log = structlog.get_logger()

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
    "datetime_type": "an ISO 8601 timestamp",
    "datetime_parsing": "an ISO 8601 timestamp",
    "datetime_from_date_parsing": "an ISO 8601 timestamp",
    "url_type": "a URL",
    "url_parsing": "a valid URL",
    "url_scheme": "an http or https URL",
    "enum": "one of the allowed values",
    "literal_error": "one of the allowed values",
}


def _field_name(loc: tuple[Any, ...]) -> str:
    # The first element says where the value came from; a field may itself be named "query".
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    return ".".join(str(part) for part in loc) or "body"


def validation_message(error: dict[str, Any]) -> str:
    """One sentence naming the first bad field, like `page_limit must not be greater than 5000`."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    field = _field_name(tuple(error.get("loc", ())))
    if kind == "json_invalid":
        return "Request body is not valid JSON"
    if kind == "missing":
        return "Request body is required" if field == "body" else f"{field} is required"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return (
            f"{field} must not be empty"
            if minimum == 1
            else (f"{field} must be at least {minimum} characters")
        )
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters"
    if kind in ("less_than_equal", "less_than"):
        return f"{field} must not be greater than {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{field} must not be less than {ctx.get('ge', ctx.get('gt'))}"
    if kind == "string_pattern_mismatch":
        return f"{field} has an invalid format"
    if kind in ("too_long", "too_short"):
        return f"{field} has the wrong number of items"
    if kind == "value_error":
        message = str(ctx.get("error") or error.get("msg", "is invalid"))
        message = message.removeprefix("Value error, ")
        if "email address" in message:
            return f"{field} must be a valid email address"
        return f"{field} {message}"
    if kind == "extra_forbidden":
        return f"{field} is not allowed"
    if kind in _TYPE_NAMES:
        return f"{field} must be {_TYPE_NAMES[kind]}"
    return f"{field}: {error.get('msg', 'is invalid')}"


def error_response(
    request: Request, status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    merged = dict(headers or {})
    quota = getattr(request.state, "rate_quota", None)
    if quota is not None:
        merged = {**quota.headers(), **merged}
    return JSONResponse(
        {"statusCode": status_code, "message": message, "error": reason_phrase(status_code)},
        status_code=status_code,
        headers=merged,
    )


async def _deskpilot_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskpilotError)
    headers = exc.headers if isinstance(exc, RateLimited) else None
    if exc.status_code >= 500:
        log.error("request.failed", error=exc.message)
    return error_response(request, exc.status_code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message = validation_message(errors[0]) if errors else "Invalid request"
    return error_response(request, 400, message)


_HTTP_MESSAGES = {
    404: "Route not found",
    405: "Method not allowed",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else reason_phrase(exc.status_code)
    if message == reason_phrase(exc.status_code):
        message = _HTTP_MESSAGES.get(exc.status_code, message)
    return error_response(request, exc.status_code, message, dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("request.crashed", error_type=type(exc).__name__)
    return error_response(request, 500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DeskpilotError, _deskpilot_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
