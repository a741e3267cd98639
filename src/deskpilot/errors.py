"""The error tree. Services raise these; one handler renders `{statusCode, message, error}`.

DeskpilotError (500)
├── InvalidInput          400  Bad Request
├── Unauthorized          401  Unauthorized
├── PermissionDenied      403  Forbidden
├── NotFound              404  Not Found
├── Conflict              409  Conflict
├── Gone                  410  Gone
├── PayloadTooLarge       413  Payload Too Large
├── RateLimited           429  Too Many Requests (carries retry_after seconds)
├── NotBuilt              501  Not Implemented (an OpenCX endpoint not built yet)
└── Upstream              502  Bad Gateway
"""

from __future__ import annotations

from http import HTTPStatus


class DeskpilotError(Exception):
    status_code: int = 500
    default_message: str = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def error(self) -> str:
        return reason_phrase(self.status_code)


class InvalidInput(DeskpilotError):
    status_code = 400
    default_message = "Invalid request"


class Unauthorized(DeskpilotError):
    status_code = 401
    default_message = "Missing or invalid credentials"


class PermissionDenied(DeskpilotError):
    status_code = 403
    default_message = "Access denied"


class NotFound(DeskpilotError):
    status_code = 404
    default_message = "Not found"


class Conflict(DeskpilotError):
    status_code = 409
    default_message = "Conflict"


class Gone(DeskpilotError):
    status_code = 410
    default_message = "Gone"


class PayloadTooLarge(DeskpilotError):
    status_code = 413
    default_message = "Request body is too large"


class RateLimited(DeskpilotError):
    status_code = 429
    default_message = "Too many requests"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = 60,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {**(headers or {}), "Retry-After": str(self.retry_after)}


class NotBuilt(DeskpilotError):
    status_code = 501
    default_message = "Not implemented yet"


class Upstream(DeskpilotError):
    status_code = 502
    default_message = "An upstream service failed"


def reason_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
