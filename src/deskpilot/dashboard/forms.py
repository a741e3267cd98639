"""Turning a submitted HTML form into the body the Org API would have received: text areas
become lists, empty fields become "not given" or null, and a value the API's schema refuses
is refused with the API's own message (a 400 page naming the field)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ValidationError

from deskpilot.error_handlers import validation_message
from deskpilot.errors import InvalidInput, NotFound

ModelT = TypeVar("ModelT", bound=BaseModel)

# What a form's text area may hold: far more than any list the API accepts, far less than
# a request body.
MAX_TEXTAREA_CHARS = 20_000


def parse_body(model: type[ModelT], values: Mapping[str, Any]) -> ModelT:
    """The API's schema, applied to the form's values; its first complaint is the page's.
    The lists of a form are the lines of a text area, and are counted as such."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        limit = first.get("ctx", {}).get("max_length")
        if first["type"] == "too_long" and limit is not None:
            field = ".".join(str(part) for part in first["loc"])
            raise InvalidInput(f"{field} must have at most {limit} lines") from exc
        raise InvalidInput(validation_message(dict(first))) from exc


def lines(text: str) -> list[str]:
    """One item per non-empty line of a text area."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def given(values: Mapping[str, str]) -> dict[str, str]:
    """The fields that were filled in (an empty field is "not given")."""
    return {key: value.strip() for key, value in values.items() if value.strip()}


def or_null(value: str) -> str | None:
    """An emptied field clears the value."""
    return value.strip() or None


def path_id(value: str, what: str) -> uuid.UUID:
    """A malformed id in the address is something that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"{what} not found") from exc


def kept_query(raw: str, allowed: tuple[str, ...]) -> str:
    """A query string sent back by a form (to return to the same list), reduced to the
    keys the list understands."""
    pairs = [(key, value) for key, value in parse_qsl(raw[:2000]) if key in allowed and value]
    return urlencode(pairs)
