"""Webhooks: the org's endpoints, the outbox of events (written in the transaction of the
change that caused them) and one delivery per event and endpoint, with its retry state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow

# BIGSERIAL on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
EventSeq = BigInteger().with_variant(Integer(), "sqlite")
# Deliveries still to be made: the dispatcher's claim and the ordering check read these.
OPEN_STATUSES = ("pending", "retrying")


class WebhookEndpoint(UUIDPk, Timestamps, Base):
    """Where an org's events go. The signing secret is kept encrypted (it must sign, so it
    cannot be hashed); after a rotation the previous one signs too until it expires."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org_created", "org_id", "created_at", "id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    # Event names, or ["*"] for every event.
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # manual | gone (the receiver answered 410) | failing (nothing but failures for 3 days)
    disabled_reason: Mapped[str | None] = mapped_column(String(16))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure since the last success: the endpoint is disabled 3 days later.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEvent(Base):
    """One event as it happened (the outbox). `seq` orders the events of a conversation:
    they are written under the conversation's row lock, so `seq` follows commit order."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_created", "created_at"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(EventSeq, primary_key=True, autoincrement=True)
    # The envelope's `id`: the same on every attempt and redelivery.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(UUIDPk, Base):
    """One event on its way to one endpoint. A dispatcher claims it with a conditional
    UPDATE (`claim_token`, `claimed_at`); a claim older than the lease is abandoned (its
    process died) and may be taken again, so a crash costs a retry, never the event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
        # The in-order rule: an earlier open delivery of the conversation to the endpoint.
        Index("ix_webhook_deliveries_order", "endpoint_id", "conversation_id", "event_seq"),
        Index("ix_webhook_deliveries_event", "event_seq"),
        Index(
            "ix_webhook_deliveries_due",
            "status",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'retrying')"),
            postgresql_where=text("status IN ('pending', 'retrying')"),
        ),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_seq: Mapped[int] = mapped_column(
        EventSeq, ForeignKey("webhook_events.seq", ondelete="CASCADE")
    )
    # Copied from the event: the delivery log shows them and the ordering rule reads them.
    event: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # pending | retrying | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_time_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
