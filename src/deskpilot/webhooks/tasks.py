"""The webhooks' periodic work: keep this process's dispatcher running (the scheduler runs
where background jobs run, so that is where deliveries are sent) and its housekeeping."""

from __future__ import annotations

from deskpilot.jobs import TaskContext, due_every
from deskpilot.webhooks.delivery import close_dispatcher, dispatcher_for, fail_exhausted, prune


async def keep_delivering(ctx: TaskContext) -> None:
    """Start the dispatcher on the first tick (restart it if it ever stopped); every minute
    fail deliveries with no attempt left, every hour prune old ones."""
    dispatcher_for(ctx).ensure_running()
    if due_every(ctx, "webhooks_fail_exhausted", 60):
        await fail_exhausted(ctx.sessionmaker, ctx.settings)
    if due_every(ctx, "webhooks_prune", 3600):
        await prune(ctx.sessionmaker)


async def stop_delivering(ctx: TaskContext) -> None:
    """At shutdown: requests in flight are abandoned to their lease (retried, not lost)."""
    await close_dispatcher(ctx)
