"""Chat sessions (conversations), their event history, their tags, and the per-org counter
that numbers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow

# None is stored as SQL NULL, not as the JSON text `null`.
NullableJSON = JSON(none_as_null=True)
# What a redaction leaves of a text: in the history, the summaries and the webhook outbox.
REDACTED = "[redacted]"


class ChatTicketCounter(Base):
    """The last ticket number handed out per org, advanced by one upsert … RETURNING so
    concurrent creates never share a number (max()+1 would)."""

    __tablename__ = "chat_ticket_counters"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)


class ChatSession(UUIDPk, Timestamps, Base):
    __tablename__ = "chat_sessions"
    __table_args__ = (
        Index("uq_chat_sessions_org_ticket_number", "org_id", "ticket_number", unique=True),
        Index("ix_chat_sessions_org_created", "org_id", "created_at", "id"),
        Index("ix_chat_sessions_org_updated", "org_id", "updated_at"),
        Index("ix_chat_sessions_org_last_message", "org_id", "last_message_at", "id"),
        Index("ix_chat_sessions_org_status", "org_id", "status"),
        Index("ix_chat_sessions_org_channel", "org_id", "channel"),
        Index("ix_chat_sessions_org_assignee", "org_id", "assignee_id"),
        Index("ix_chat_sessions_org_handoff", "org_id", "handoff_at"),
        Index("ix_chat_sessions_contact", "contact_id"),
        # The idle sweep looks across orgs for open sessions by their last message.
        Index("ix_chat_sessions_status_last_message", "status", "last_message_at"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    ticket_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24), default="open")
    ai_closure_type: Mapped[str | None] = mapped_column(String(24))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), default="api")
    language: Mapped[str | None] = mapped_column(String(8))
    assist_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    # A dashboard user or an external agent's id: no foreign key, agents may live elsewhere.
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="SET NULL")
    )
    custom_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handoff_reasons: Mapped[list[str] | None] = mapped_column(NullableJSON)
    handoff_explanation: Mapped[str | None] = mapped_column(Text)
    handoff_summary: Mapped[str | None] = mapped_column(Text)
    handoff_sentiment: Mapped[str | None] = mapped_column(String(16))
    summary: Mapped[str | None] = mapped_column(Text)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who wrote the last visible message (contact | ai | human_agent): the idle sweep closes
    # only sessions the AI answered last.
    last_message_sender: Mapped[str | None] = mapped_column(String(16))
    ai_replies: Mapped[int] = mapped_column(Integer, default=0)
    # Consecutive AI replies that did not help; the agent keeps it.
    ai_unproductive_replies: Mapped[int] = mapped_column(Integer, default=0)
    # The last event's `seq`, advanced by one UPDATE … RETURNING per event.
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    # PATCH options that only matter once the session closes (API.md 3.4), kept for the
    # summary and webhook work that reads them.
    close_request: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


chat_session_tags = Table(
    "chat_session_tags",
    Base.metadata,
    Column(
        "session_id",
        Uuid,
        ForeignKey("chat_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_id", Uuid, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_chat_session_tags_tag", "tag_id"),
)


class ChatEvent(UUIDPk, Base):
    """One entry of a session's history: a visible message, an internal comment, or a
    lifecycle event. `seq` orders a session's events and is the history cursor."""

    __tablename__ = "chat_events"
    __table_args__ = (
        Index("uq_chat_events_session_seq", "session_id", "seq", unique=True),
        Index("ix_chat_events_org_created", "org_id", "created_at"),
        # Contact messages waiting for (or held by) the AI's turn: a small partial index.
        Index(
            "ix_chat_events_reply_state",
            "reply_state",
            "reply_claimed_at",
            sqlite_where=text("reply_state IN ('pending', 'claimed')"),
            postgresql_where=text("reply_state IN ('pending', 'claimed')"),
        ),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    sender_type: Mapped[str] = mapped_column(String(16))  # contact | ai | human_agent | system
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSON)
    debug: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending: a contact message awaiting the AI's turn; claimed: a worker runs it; done.
    reply_state: Mapped[str | None] = mapped_column(String(16))
    reply_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
