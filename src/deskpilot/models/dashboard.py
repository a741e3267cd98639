"""What the dashboard keeps per user: how far each user has read each conversation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, UTCDateTime, utcnow


class ReadMark(Base):
    """A conversation's events after `seen_seq` are unread for this user; a conversation
    the user never opened has no row, and all its events are unread."""

    __tablename__ = "dashboard_read_marks"
    __table_args__ = (
        Index("ix_dashboard_read_marks_session", "session_id"),
        Index("ix_dashboard_read_marks_org", "org_id"),
    )

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    seen_seq: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
