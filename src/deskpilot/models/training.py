"""Training: instructions and scenarios the AI follows, their immutable published versions,
and the directories that organise them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow


class TrainingDirectory(UUIDPk, Timestamps, Base):
    __tablename__ = "training_directories"
    __table_args__ = (Index("ix_training_directories_org_parent", "org_id", "parent_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # No ON DELETE: a directory is deleted only once it is empty (API.md 3.3).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("training_directories.id"))


class TrainingItem(UUIDPk, Timestamps, Base):
    """One training entry. `title`/`content` hold the live version's text once published and
    the working text while unpublished; `draft_*` hold pending edits (null when none)."""

    __tablename__ = "training_items"
    __table_args__ = (
        Index("ix_training_items_org_created", "org_id", "created_at", "id"),
        Index("ix_training_items_org_live", "org_id", "is_draft"),
        Index("ix_training_items_directory", "directory_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(24))  # BEHAVIORAL | SCENARIO_SPECIFIC
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    draft_title: Mapped[str | None] = mapped_column(String(200))
    draft_content: Mapped[str | None] = mapped_column(Text)
    is_draft: Mapped[bool] = mapped_column(Boolean, default=True)  # nothing live until published
    directory_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("training_directories.id")
    )
    restricted_to_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The same restriction as a bit set (one bit per channel, 0 = every channel), so the
    # `channel` list filter is one portable SQL expression on both databases.
    channel_mask: Mapped[int] = mapped_column(Integer, default=0)
    restricted_to_segments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # `metadata` is reserved on declarative classes; the column keeps the API's name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    current_version: Mapped[int | None] = mapped_column(Integer)
    # Highest version number ever published: the next publish is latest_version + 1.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrainingVersion(UUIDPk, Base):
    """Immutable: the text of one publish."""

    __tablename__ = "training_versions"
    __table_args__ = (
        Index("uq_training_versions_item_version", "training_id", "version", unique=True),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    training_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("training_items.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
