"""Sliding-window rate limits (the `limits` library's moving window).

In memory for one process; on Redis when `REDIS_URL` is set, so every server process
counts against the same windows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from deskpilot.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the oldest hit in the window expires

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class RateLimiter:
    def __init__(self, *, redis_url: str = "", enabled: bool = True) -> None:
        self.enabled = enabled
        self._storage: Storage = (
            RedisStorage(redis_url, implementation="redispy", key_prefix="deskpilot:rl")
            if redis_url
            else MemoryStorage()
        )
        self._strategy = MovingWindowRateLimiter(self._storage)

    async def hit(self, scope: str, key: str, per_minute: int) -> Quota:
        """Count one request; raise RateLimited (with Retry-After) when over the limit."""
        item = RateLimitItemPerMinute(per_minute)
        if not self.enabled:
            return Quota(per_minute, per_minute, math.ceil(time.time()) + 60)
        allowed = await self._strategy.hit(item, scope, key)
        stats = await self._strategy.get_window_stats(item, scope, key)
        reset_at = math.ceil(stats.reset_time)
        if not allowed:
            retry_after = min(60, max(1, math.ceil(stats.reset_time - time.time())))
            raise RateLimited(
                f"Rate limit of {per_minute} requests per minute exceeded",
                retry_after=retry_after,
                headers=Quota(per_minute, 0, reset_at).headers(),
            )
        return Quota(per_minute, stats.remaining, reset_at)

    async def reset(self) -> None:
        await self._storage.reset()

    async def close(self) -> None:
        close = getattr(self._storage, "close", None)
        if close is not None:
            await close()
