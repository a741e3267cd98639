"""Shapes shared by every surface: the error body, timestamps, flat validators."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    UrlConstraints,
)


def _iso_millis(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[datetime, PlainSerializer(_iso_millis, return_type=str, when_used="json")]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
HexColor = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]


def _https(value: AnyHttpUrl) -> AnyHttpUrl:
    if value.scheme != "https":
        raise ValueError("must be an https URL")
    return value


# An image or link the browser loads on a customer's page: https only.
HttpsUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048), AfterValidator(_https)]


class ErrorBody(BaseModel):
    """Every non-2xx response."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"statusCode": 404, "message": "Org not found", "error": "Not Found"}
        }
    )

    statusCode: int
    message: str
    error: str


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    descriptions = {
        400: "Validation failed",
        401: "Missing, unknown or revoked credential",
        403: "Credential valid but access denied",
        404: "Not found",
        409: "Conflict",
        410: "Gone",
        413: "Body too large",
        429: "Rate limited; see Retry-After",
        500: "Unexpected failure",
        501: "Not built yet (API.md 6)",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in codes}


_SAFE_PATH = re.compile(r"^/(?!/)[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$")


def safe_redirect_path(value: str) -> str:
    """A dashboard-relative path: no scheme, no host, no backslash (no open redirect)."""
    if not _SAFE_PATH.match(value) or "\\" in value or len(value) > 512:
        raise ValueError("must be a dashboard path starting with /")
    return value
