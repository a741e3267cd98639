"""What the Widget API keeps beside the chat sessions themselves: which contact (and, for an
unverified visitor, which browser) owns a widget session, the client message ids that make
`chat/send` idempotent, votes, CSAT answers, uploads and per-contact widget settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, UTCDateTime, UUIDPk, utcnow

NullableJSON = JSON(none_as_null=True)


class WidgetSession(Base):
    """A chat session opened from the widget. Verified sessions are seen by the contact on
    every device; unverified ones only by the browser (`device_id`) that opened them."""

    __tablename__ = "widget_sessions"
    __table_args__ = (
        Index("ix_widget_sessions_org_contact_created", "org_id", "contact_id", "created_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    is_verified: Mapped[bool] = mapped_column(Boolean)
    # The unverified token's `jti`; None for verified sessions.
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetMessage(UUIDPk, Base):
    """A client message id (`uuid`) and the event it stored: a re-send returns the first
    result. Also keeps the per-message action parameters until actions exist."""

    __tablename__ = "widget_messages"
    __table_args__ = (
        Index("uq_widget_messages_session_client_uuid", "session_id", "client_uuid", unique=True),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    client_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_events.id", ondelete="CASCADE")
    )
    action_params: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetVote(Base):
    """The contact's vote on one AI message; a new vote replaces the old one."""

    __tablename__ = "widget_votes"

    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_events.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(16))  # upvote | downvote
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetCsat(Base):
    """One CSAT answer per session (the primary key enforces it under concurrency)."""

    __tablename__ = "widget_csat"

    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    feedback: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetUpload(UUIDPk, Base):
    """A file a contact uploaded, before (or after) it is sent with a message. The bytes live
    in the attachment store under the contact's folder, under a random name."""

    __tablename__ = "widget_uploads"
    __table_args__ = (Index("ix_widget_uploads_org_contact", "org_id", "contact_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    file: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetContactSettings(Base):
    """`chat_context` and `http_action_overrides` from `/widget/authenticate-user`."""

    __tablename__ = "widget_contact_settings"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    chat_context: Mapped[str | None] = mapped_column(Text)
    http_action_overrides: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetSettings(Base):
    """How the org's widget greets visitors and looks by default (`/widget-settings`). A
    missing row means the defaults; the embed's own options win over these."""

    __tablename__ = "widget_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    initial_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    initial_messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    bot_name: Mapped[str | None] = mapped_column(String(60))
    bot_avatar_url: Mapped[str | None] = mapped_column(String(2048))
    primary_color: Mapped[str | None] = mapped_column(String(7))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
