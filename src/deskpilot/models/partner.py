"""Partners (the install's tenants of tenants) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow


class Partner(UUIDPk, Timestamps, Base):
    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    app_name: Mapped[str | None] = mapped_column(String(60))
    support_email: Mapped[str | None] = mapped_column(String(320))
    primary_color: Mapped[str | None] = mapped_column(String(7))
    default_ai_instructions: Mapped[str | None] = mapped_column(Text)
    ip_allow_list: Mapped[list[str]] = mapped_column(JSON, default=list)


class PartnerApiKey(UUIDPk, Base):
    __tablename__ = "partner_api_keys"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
