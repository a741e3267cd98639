"""Partner API request and response bodies (API.md section 2)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from deskpilot.schemas import (
    HexColor,
    HttpsUrl,
    LanguageCode,
    ReadModel,
    Timestamp,
    safe_redirect_path,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Instructions = Annotated[str, StringConstraints(max_length=20_000)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _url_text(value: AnyHttpUrl | None) -> str | None:
    return str(value) if value is not None else None


class Branding(BaseModel):
    logo_url: str | None = None
    app_name: str | None = None
    support_email: str | None = None
    primary_color: str | None = None


class BrandingUpdate(BaseModel):
    """Partial: omitted keys unchanged, null clears."""

    logo_url: HttpsUrl | None = None
    app_name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    support_email: EmailStr | None = None
    primary_color: HexColor | None = None


class PartnerRead(BaseModel):
    id: uuid.UUID
    name: str
    active: bool
    branding: Branding
    default_ai_instructions: str | None
    ip_allow_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class PartnerUpdate(BaseModel):
    branding: BrandingUpdate | None = None
    default_ai_instructions: Instructions | None = None


class OrgCreate(BaseModel):
    name: Name
    external_id: ExternalId | None = None
    website: AnyHttpUrl | None = Field(default=None, max_length=2048)
    language: LanguageCode = "en"
    ai_instructions: Instructions | None = None
    integrations: dict[str, Any] | None = None

    @property
    def website_text(self) -> str | None:
        return _url_text(self.website)


class OrgCreated(BaseModel):
    id: uuid.UUID
    name: str
    widget_token: str
    external_id: str | None


class OrgStats(BaseModel):
    users: int
    sessions_30d: int
    synced_pages: int
    published_training: int


OrgHealth = Literal["new", "setup_incomplete", "inactive", "healthy"]


class OrgRead(BaseModel):
    id: uuid.UUID
    name: str
    external_id: str | None
    website: str | None
    language: str
    ai_instructions: str | None
    widget_token: str
    health: OrgHealth
    stats: OrgStats
    created_at: Timestamp
    updated_at: Timestamp


class OrgUpdate(BaseModel):
    """PATCH: omitted fields stay, null clears (name and language cannot be cleared)."""

    name: Name | None = None
    external_id: ExternalId | None = None
    website: AnyHttpUrl | None = Field(default=None, max_length=2048)
    language: LanguageCode | None = None
    ai_instructions: Instructions | None = None

    @property
    def website_text(self) -> str | None:
        return _url_text(self.website)


class ApiKeyCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyRead(ReadModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_by: Literal["partner", "dashboard"]
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyCreated(BaseModel):
    api_key: str = Field(description="The full secret. Shown only in this response.")
    id: uuid.UUID
    name: str
    prefix: str
    created_at: Timestamp


class LoginLinkCreate(BaseModel):
    email: EmailStr
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    redirect_path: str = "/"

    @field_validator("redirect_path")
    @classmethod
    def _dashboard_path(cls, value: str) -> str:
        return safe_redirect_path(value)


class LoginLinkCreated(BaseModel):
    url: str
    expires_at: Timestamp


class ConsoleLinkCreate(BaseModel):
    email: EmailStr = Field(description="The partner admin's email, matched case-insensitively.")
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = Field(default=None, description="Used only when the user is created.")
