"""Background work: a registry of named tasks and the queues that run them.

`InProcessQueue` runs tasks as asyncio tasks inside `deskpilot serve` (the embedded default);
`RedisQueue` hands them to `deskpilot worker` processes through arq. Either way the task's
durable state lives in the database, so a lost message or a killed runner costs a retry,
never data: the scheduler re-enqueues work whose runner stopped renewing its lease.
"""

from deskpilot.jobs._queue import (
    InProcessQueue,
    JobQueue,
    RedisQueue,
    TaskContext,
    TaskFunction,
    create_queue,
    due_every,
    run_worker,
)

__all__ = [
    "InProcessQueue",
    "JobQueue",
    "RedisQueue",
    "TaskContext",
    "TaskFunction",
    "create_queue",
    "due_every",
    "run_worker",
]
