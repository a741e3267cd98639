"""Org API bodies for the current org (API.md 3.1)."""

from __future__ import annotations

import uuid

from pydantic import AnyHttpUrl, BaseModel, Field

from deskpilot.partner.schemas import Branding, Instructions
from deskpilot.schemas import LanguageCode, Timestamp


class CurrentOrgRead(BaseModel):
    id: uuid.UUID
    name: str
    external_id: str | None
    website: str | None
    language: str
    ai_instructions: str | None
    widget_token: str
    partner_branding: Branding | None
    created_at: Timestamp
    updated_at: Timestamp


class CurrentOrgUpdate(BaseModel):
    """PATCH /org: omitted unchanged; null clears (ai_instructions null = partner default)."""

    ai_instructions: Instructions | None = None
    language: LanguageCode | None = None
    website: AnyHttpUrl | None = Field(default=None, max_length=2048)
