"""Live updates: publish/subscribe on channels per chat session and per org, in process or
through Redis (DESIGN.md, "two ways to run"). Events are small JSON notices; the database
stays the source of truth, and history notices go out only after their row is committed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from deskpilot.config import Settings
from deskpilot.db import after_commit
from deskpilot.events._bus import (
    RESYNC,
    Event,
    EventBus,
    InProcessEventBus,
    RedisEventBus,
    Subscription,
)

__all__ = [
    "INFO_KEY",
    "RESYNC",
    "Event",
    "EventBus",
    "InProcessEventBus",
    "RedisEventBus",
    "Subscription",
    "bus_of",
    "create_event_bus",
    "org_channel",
    "publish_history_after_commit",
    "publish_typing",
    "session_channel",
]

# Where a session (and its sessionmaker) carries the bus: `Session.info[INFO_KEY]`.
INFO_KEY = "deskpilot.events"


async def create_event_bus(settings: Settings) -> EventBus:
    """Redis pub/sub when REDIS_URL is set (every process sees every event), else in-process."""
    if settings.REDIS_URL:
        bus = RedisEventBus(settings.REDIS_URL, prefix=settings.EVENTS_PREFIX)
        await bus.start()
        return bus
    return InProcessEventBus()


def session_channel(org_id: uuid.UUID, session_id: uuid.UUID) -> str:
    return f"org:{org_id}:session:{session_id}"


def org_channel(org_id: uuid.UUID) -> str:
    return f"org:{org_id}"


def bus_of(source: AsyncSession | async_sessionmaker[AsyncSession]) -> EventBus | None:
    """The bus the app put on its sessionmaker; None for sessions made without one (CLI)."""
    info = source.info if isinstance(source, AsyncSession) else source.kw.get("info") or {}
    bus: EventBus | None = info.get(INFO_KEY)
    return bus


def publish_history_after_commit(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    session_id: uuid.UUID,
    event_id: uuid.UUID,
    seq: int,
    type: str,
    sender_type: str,
    created_at: str,
) -> None:
    """Announce a new history event once it is committed (dropped on rollback)."""
    bus = bus_of(db)
    if bus is None:
        return
    notice: dict[str, Any] = {
        "type": "history",
        "org_id": str(org_id),
        "session_id": str(session_id),
        "id": str(event_id),
        "seq": seq,
        "event_type": type,
        "sender_type": sender_type,
        "created_at": created_at,
    }

    async def publish() -> None:
        await bus.publish(session_channel(org_id, session_id), notice)
        await bus.publish(org_channel(org_id), notice)

    after_commit(db, publish)


async def publish_typing(
    bus: EventBus | None,
    *,
    org_id: uuid.UUID,
    session_id: uuid.UUID,
    kind: str,
    active: bool,
) -> None:
    """Someone (`ai` or `agent`) started or stopped writing in a session; not stored."""
    if bus is None:
        return
    await bus.publish(
        session_channel(org_id, session_id),
        {"type": "typing", "session_id": str(session_id), "kind": kind, "active": active},
    )


async def publish_delta(
    bus: EventBus | None, *, org_id: uuid.UUID, session_id: uuid.UUID, text: str
) -> None:
    """A piece of the AI's reply as it is written; not stored (the whole reply is, once it
    is done, and replaces the pieces on the visitor's screen)."""
    if bus is None:
        return
    await bus.publish(
        session_channel(org_id, session_id),
        {"type": "delta", "session_id": str(session_id), "kind": "ai", "text": text},
    )
