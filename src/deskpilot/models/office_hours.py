"""Office hours: named weekly schedules in one IANA time zone, made of shifts."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UUIDPk


class OfficeHoursSchedule(UUIDPk, Timestamps, Base):
    __tablename__ = "office_hours_schedules"
    __table_args__ = (
        Index("ix_office_hours_schedules_org_created", "org_id", "created_at"),
        # At most one default per org, whatever two concurrent requests do.
        Index(
            "uq_office_hours_schedules_org_default",
            "org_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    iana_timezone: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class OfficeHoursShift(UUIDPk, Timestamps, Base):
    __tablename__ = "office_hours_shifts"
    __table_args__ = (Index("ix_office_hours_shifts_schedule", "schedule_id", "position"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    schedule_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("office_hours_schedules.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)  # order given by the client
    # monday … sunday | monday_to_friday | saturday_to_sunday | everyday
    day_of_week: Mapped[str] = mapped_column(String(24))
    # Wall-clock seconds since local midnight; 86400 is the end of the day (24:00:00),
    # which a time-of-day type cannot hold.
    start_seconds: Mapped[int] = mapped_column(Integer)
    end_seconds: Mapped[int] = mapped_column(Integer)
