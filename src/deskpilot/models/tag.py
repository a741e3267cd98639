"""Conversation tags, keyed per org by their case-insensitive name."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UUIDPk


class Tag(UUIDPk, Timestamps, Base):
    __tablename__ = "tags"
    __table_args__ = (Index("uq_tags_org_name_key", "org_id", "name_key", unique=True),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    tag_name: Mapped[str] = mapped_column(String(50))
    # Lower-cased in Python (SQLite's lower() only folds ASCII).
    name_key: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(String(160))
    exclude_from_auto_tagging: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stored as given until tag categories exist (API.md 6).
    category_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
