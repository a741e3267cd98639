"""Contact API bodies (API.md 3.5) and the flat `custom_data` rules of API.md 1.3."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from deskpilot.orgsettings.schemas import SafeText, check_text
from deskpilot.schemas import ReadModel, Timestamp

MAX_CUSTOM_DATA_KEYS = 50
MAX_CUSTOM_DATA_KEY_LENGTH = 64
MAX_CUSTOM_DATA_VALUE_LENGTH = 1000


def _flat(value: Any) -> Any:
    """Nested objects and arrays are refused rather than ignored (API.md 1.3)."""
    if isinstance(value, dict) and any(isinstance(item, dict | list) for item in value.values()):
        raise ValueError("must be a flat object: nested objects and arrays are not allowed")
    return value


def _within_limits(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_CUSTOM_DATA_KEYS:
        raise ValueError(f"must have at most {MAX_CUSTOM_DATA_KEYS} keys")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_CUSTOM_DATA_KEY_LENGTH:
            raise ValueError(f"keys must be 1-{MAX_CUSTOM_DATA_KEY_LENGTH} characters")
        check_text(key)
        if isinstance(item, str):
            if len(item) > MAX_CUSTOM_DATA_VALUE_LENGTH:
                raise ValueError(
                    f"value of '{key}' must be at most {MAX_CUSTOM_DATA_VALUE_LENGTH} characters"
                )
            check_text(item)
    return value


# Contact custom_data: string values only.
ContactCustomData = Annotated[
    dict[str, str], BeforeValidator(_flat), AfterValidator(_within_limits)
]
# Session custom_data (for the sessions API): string, number or boolean values.
ScalarCustomData = Annotated[
    dict[str, str | bool | int | float], BeforeValidator(_flat), AfterValidator(_within_limits)
]

Email = Annotated[EmailStr, Field(max_length=254)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9][0-9]{1,14}$")]
ContactName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SafeText
]


class ContactInput(BaseModel):
    """On create every field is optional but one; on PATCH omitted = unchanged, null =
    cleared, and `custom_data` replaces the stored object."""

    email: Email | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +4915112345678")
    phone_number: Phone | None = Field(default=None, description="alias of phone")
    name: ContactName | None = None
    custom_data: ContactCustomData | None = None

    @model_validator(mode="after")
    def _one_field_and_one_phone(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("must set at least one of email, phone, name, custom_data")
        if {"phone", "phone_number"} <= self.model_fields_set and self.phone != self.phone_number:
            raise ValueError("must not give phone and phone_number with different values")
        return self

    @property
    def phone_given(self) -> bool:
        return bool({"phone", "phone_number"} & self.model_fields_set)

    @property
    def phone_value(self) -> str | None:
        return self.phone if "phone" in self.model_fields_set else self.phone_number


class ContactBody(BaseModel):
    contact: ContactInput


class ContactCreated(BaseModel):
    id: uuid.UUID


class ContactRead(ReadModel):
    id: uuid.UUID
    email: str | None
    phone_number: str | None
    name: str | None
    custom_data: dict[str, str]
    avatar_url: str | None
    language: str | None
    non_verified_name: str | None
    non_verified_email: str | None
    non_verified_phone_number: str | None
    non_verified_custom_data: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp
