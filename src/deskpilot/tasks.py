"""The one registry of background tasks (what `deskpilot serve` and `deskpilot worker` can
run) and the scheduler that calls every feature's periodic work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from deskpilot.agent import tasks as agent_tasks
from deskpilot.conversations import tasks as conversation_tasks
from deskpilot.crawl import tasks as crawl_tasks
from deskpilot.jobs import TaskContext, TaskFunction
from deskpilot.org import tasks as org_tasks
from deskpilot.webhooks import tasks as webhook_tasks

log = structlog.get_logger()

Periodic = Callable[[TaskContext], Awaitable[None]]


def _merged(*registries: Mapping[str, TaskFunction]) -> dict[str, TaskFunction]:
    """Task names are global (they travel through Redis): a clash is a bug, found at import."""
    merged: dict[str, TaskFunction] = {}
    for registry in registries:
        clash = merged.keys() & registry.keys()
        if clash:
            raise RuntimeError(f"task names registered twice: {sorted(clash)}")
        merged.update(registry)
    return merged


TASKS: dict[str, TaskFunction] = _merged(
    crawl_tasks.TASKS, conversation_tasks.TASKS, agent_tasks.TASKS
)

# Each feature's periodic function, called on every tick in this order.
PERIODIC: tuple[Periodic, ...] = (
    crawl_tasks.scheduler_tick,
    conversation_tasks.close_idle_sessions,
    agent_tasks.resume_turns,
    org_tasks.purge_deleted_orgs,
    webhook_tasks.keep_delivering,
)


async def scheduler_tick(ctx: TaskContext) -> None:
    """One round of every feature's periodic work; one failing does not stop the others."""
    for periodic in PERIODIC:
        try:
            await periodic(ctx)
        except Exception:
            log.exception("jobs.periodic_failed", task=periodic.__qualname__)


async def run_scheduler(ctx: TaskContext) -> None:
    """Tick forever, every JOBS_SCHEDULER_INTERVAL_SECONDS."""
    while True:
        await scheduler_tick(ctx)
        await asyncio.sleep(ctx.settings.JOBS_SCHEDULER_INTERVAL_SECONDS)
