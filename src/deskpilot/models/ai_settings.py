"""Per-org switches for the AI: autopilot modes and topics, and when to hand off to humans.
A missing row means the documented defaults."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, UTCDateTime, utcnow


class AutopilotSettings(Base):
    __tablename__ = "autopilot_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    # channel → mode, only for channels that differ from the default (autopilot).
    channel_modes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class HandoffSettings(Base):
    __tablename__ = "handoff_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), default="preset")  # preset | advanced
    preset_level: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    on_frustration: Mapped[bool] = mapped_column(Boolean, default=True)
    on_unproductive_conversation: Mapped[bool] = mapped_column(Boolean, default=True)
    unproductive_after_turns: Mapped[int] = mapped_column(Integer, default=1)
    on_human_request: Mapped[bool] = mapped_column(Boolean, default=True)
    require_problem_description: Mapped[bool] = mapped_column(Boolean, default=False)
    collect_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    outside_office_hours: Mapped[str] = mapped_column(String(16), default="handoff")
    # A deleted schedule falls back to the org's default one.
    office_hours_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("office_hours_schedules.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
