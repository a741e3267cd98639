"""Orgs (the partner's customers) and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow


class Org(UUIDPk, Timestamps, Base):
    __tablename__ = "orgs"
    __table_args__ = (
        # external_id is unique per partner among live orgs; a deleted org frees it.
        Index(
            "uq_orgs_partner_external_id",
            "partner_id",
            "external_id",
            unique=True,
            sqlite_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
            postgresql_where=text("deleted_at IS NULL AND external_id IS NOT NULL"),
        ),
        Index("ix_orgs_partner_created", "partner_id", "created_at", "id"),
    )

    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("partners.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[str] = mapped_column(String(8), default="en")
    ai_instructions: Mapped[str | None] = mapped_column(Text)
    widget_token: Mapped[str] = mapped_column(String(32), unique=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrgApiKey(UUIDPk, Base):
    __tablename__ = "org_api_keys"
    __table_args__ = (Index("ix_org_api_keys_org_created", "org_id", "created_at", "id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(16), default="partner")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
