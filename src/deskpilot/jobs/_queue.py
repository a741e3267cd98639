"""The queue implementations and the context every task receives."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from deskpilot.config import Settings

log = structlog.get_logger()


@dataclass
class TaskContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    queue: JobQueue
    # Identifies this process in job leases.
    runner_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    # Heavy per-process resources (the embedding model…), built on first use.
    resources: dict[str, Any] = field(default_factory=dict)


TaskFunction = Callable[..., Awaitable[None]]


def due_every(ctx: TaskContext, key: str, seconds: float) -> bool:
    """True at most once per `seconds` in this process for `key`: for periodic housekeeping
    that need not run on every scheduler tick (and is harmless when two processes run it)."""
    now = time.monotonic()
    last = ctx.resources.get(f"due:{key}")
    if last is not None and now - last < seconds:
        return False
    ctx.resources[f"due:{key}"] = now
    return True


class JobQueue(Protocol):
    async def enqueue(self, task: str, **kwargs: Any) -> None: ...

    async def start(self, context: TaskContext) -> None: ...

    async def close(self) -> None: ...


class InProcessQueue:
    """Runs tasks in this event loop, at most `concurrency` at a time."""

    def __init__(self, tasks: Mapping[str, TaskFunction], *, concurrency: int = 2) -> None:
        self._tasks = dict(tasks)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._context: TaskContext | None = None

    async def start(self, context: TaskContext) -> None:
        self._context = context

    async def enqueue(self, task: str, **kwargs: Any) -> None:
        if task not in self._tasks:
            raise KeyError(f"unknown task {task!r}")
        runner = asyncio.create_task(self._run(task, kwargs), name=f"job:{task}")
        self._running.add(runner)
        runner.add_done_callback(self._running.discard)

    async def _run(self, task: str, kwargs: dict[str, Any]) -> None:
        assert self._context is not None, "queue used before start()"
        async with self._semaphore:
            try:
                await self._tasks[task](self._context, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The task's state is in the database; the scheduler retries it.
                log.exception("jobs.task_failed", task=task)

    async def wait_idle(self) -> None:
        """Tests and the CLI: wait until every queued task has finished."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        for runner in list(self._running):
            runner.cancel()
        await asyncio.gather(*list(self._running), return_exceptions=True)


class RedisQueue:
    """Enqueues onto Redis through arq; `deskpilot worker` processes run the tasks."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self._redis_url = redis_url
        self._queue_name = queue_name
        self._pool: Any = None

    async def start(self, context: TaskContext) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self._pool = await create_pool(RedisSettings.from_dsn(self._redis_url))

    async def enqueue(self, task: str, **kwargs: Any) -> None:
        if self._pool is None:
            raise RuntimeError("queue used before start()")
        await self._pool.enqueue_job(task, _queue_name=self._queue_name, **kwargs)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


def create_queue(settings: Settings, tasks: Mapping[str, TaskFunction]) -> JobQueue:
    if settings.JOBS_BACKEND == "redis":
        if not settings.REDIS_URL:
            raise ValueError("JOBS_BACKEND=redis needs REDIS_URL")
        return RedisQueue(settings.REDIS_URL, settings.JOBS_QUEUE_NAME)
    return InProcessQueue(tasks, concurrency=settings.JOBS_CONCURRENCY)


async def run_worker(
    settings: Settings,
    tasks: Mapping[str, TaskFunction],
    *,
    on_startup: Callable[[TaskContext], Awaitable[None]],
    on_shutdown: Callable[[TaskContext], Awaitable[None]],
    burst: bool = False,
) -> None:
    """Run arq's worker over our task registry until stopped (SIGINT/SIGTERM)."""
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    state: dict[str, TaskContext] = {}

    def adapt(name: str, function: TaskFunction) -> Any:
        async def call(arq_ctx: dict[str, Any], **kwargs: Any) -> None:
            await function(state["context"], **kwargs)

        call.__name__ = name
        # Long crawls are fine: liveness is tracked by our own lease, not arq's timeout.
        return func(call, name=name, timeout=6 * 3600, max_tries=1)  # type: ignore[arg-type]

    async def startup(arq_ctx: dict[str, Any]) -> None:
        from deskpilot import db as database
        from deskpilot import events

        engine = database.create_engine(settings)
        bus = await events.create_event_bus(settings)
        queue = RedisQueue(settings.REDIS_URL, settings.JOBS_QUEUE_NAME)
        context = TaskContext(
            settings=settings,
            sessionmaker=database.create_sessionmaker(engine, info={events.INFO_KEY: bus}),
            queue=queue,
        )
        await queue.start(context)
        context.resources["engine"] = engine
        context.resources["events"] = bus
        state["context"] = context
        await on_startup(context)

    async def shutdown(arq_ctx: dict[str, Any]) -> None:
        context = state.get("context")
        if context is None:
            return
        await on_shutdown(context)
        await context.queue.close()
        await context.resources["events"].close()
        await context.resources["engine"].dispose()

    worker = Worker(
        functions=[adapt(name, function) for name, function in tasks.items()],
        queue_name=settings.JOBS_QUEUE_NAME,
        redis_settings=RedisSettings.from_dsn(settings.REDIS_URL),
        on_startup=startup,  # type: ignore[arg-type]
        on_shutdown=shutdown,  # type: ignore[arg-type]
        max_jobs=settings.JOBS_CONCURRENCY,
        burst=burst,
        handle_signals=True,
        keep_result=0,
        poll_delay=0.2,
    )
    await worker.async_run()
    await worker.close()
