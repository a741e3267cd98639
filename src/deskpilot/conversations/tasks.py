"""Background work of chat sessions: the periodic close of sessions the AI answered and
the contact left (API.md 3.4, assumed resolved after 24 h of silence)."""

from __future__ import annotations

from datetime import datetime

import structlog

from deskpilot.conversations import service
from deskpilot.db import transaction
from deskpilot.jobs import TaskContext, TaskFunction
from deskpilot.models import utcnow

log = structlog.get_logger()


async def close_idle_sessions(ctx: TaskContext, *, now: datetime | None = None) -> None:
    """One short transaction per session, so a busy session never holds up the sweep; what
    is left over (more than one batch) goes on the next tick."""
    moment = now or utcnow()
    async with ctx.sessionmaker() as db:
        session_ids = await service.idle_session_ids(db, now=moment)
    closed = 0
    for session_id in session_ids:
        async with transaction(ctx.sessionmaker) as db:
            if await service.close_if_idle(db, session_id=session_id, now=moment):
                closed += 1
    if closed:
        log.info("conversations.idle_sessions_closed", count=closed)


TASKS: dict[str, TaskFunction] = {"close_idle_sessions": close_idle_sessions}
