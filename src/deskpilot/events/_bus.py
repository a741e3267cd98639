"""The two event buses behind one interface: `InProcessEventBus` fans events out to the
subscribers of this process; `RedisEventBus` goes through Redis pub/sub, so an event
published by any process reaches subscribers in every process sharing that Redis.

Both also keep the small shared state live streams need: single-use keys (stream tickets)
and counted slots (streams open per contact), in memory or in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

Event = dict[str, Any]
# Delivered to a subscriber that may have missed events (queue overflow, lost Redis link):
# it should re-read what it needs from the database.
RESYNC: Event = {"type": "resync"}
_QUEUE_SIZE = 256


class Subscription:
    """Events of one channel for one consumer, in publication order."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Event] = asyncio.Queue(_QUEUE_SIZE)
        self._lagged = False

    def deliver(self, event: Event) -> None:
        if self._lagged:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # A slow reader drops events; it re-reads the database instead.
            self._lagged = True

    async def next(self, timeout: float) -> Event | None:
        """The next event, RESYNC after a gap, or None when `timeout` seconds pass."""
        if self._lagged and self._queue.empty():
            self._lagged = False
            return RESYNC
        try:
            return await asyncio.wait_for(self._queue.get(), timeout=max(0.0, timeout))
        except TimeoutError:
            return None


class EventBus(Protocol):
    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        """Send `event` (JSON-able) to every current subscriber of `channel`. Never raises:
        live updates are best effort, the database stays the source of truth."""

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Receive the channel's events from the moment this returns."""

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        """True the first time `key` is claimed within `ttl_seconds`."""

    async def acquire_slot(self, key: str, holder: str, limit: int, ttl_seconds: int) -> bool:
        """Hold one of `limit` slots under `key`; a holder not refreshed within
        `ttl_seconds` loses its slot (its process died)."""

    async def refresh_slot(self, key: str, holder: str, ttl_seconds: int) -> None: ...

    async def release_slot(self, key: str, holder: str) -> None: ...

    async def close(self) -> None: ...


class _LocalFanout:
    """Channel → this process's subscriptions."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        self._subscriptions.setdefault(subscription.channel, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        found = self._subscriptions.get(subscription.channel)
        if found is not None:
            found.discard(subscription)
            if not found:
                del self._subscriptions[subscription.channel]

    def deliver(self, channel: str, event: Event) -> None:
        for subscription in tuple(self._subscriptions.get(channel, ())):
            subscription.deliver(event)

    def deliver_all(self, event: Event) -> None:
        for subscriptions in tuple(self._subscriptions.values()):
            for subscription in tuple(subscriptions):
                subscription.deliver(event)

    @asynccontextmanager
    async def subscription(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self.add(subscription)
        try:
            yield subscription
        finally:
            self.remove(subscription)


class InProcessEventBus:
    """One process: asyncio fan-out (the embedded default)."""

    def __init__(self) -> None:
        self._fanout = _LocalFanout()
        self._claims: dict[str, float] = {}
        self._slots: dict[str, dict[str, float]] = {}

    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        # A round trip through JSON, as with Redis: subscribers get their own copy.
        self._fanout.deliver(channel, json.loads(json.dumps(event, default=str)))

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscription(channel)

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        now = time.monotonic()
        self._claims = {k: until for k, until in self._claims.items() if until > now}
        if key in self._claims:
            return False
        self._claims[key] = now + ttl_seconds
        return True

    async def acquire_slot(self, key: str, holder: str, limit: int, ttl_seconds: int) -> bool:
        now = time.monotonic()
        held = {h: until for h, until in self._slots.get(key, {}).items() if until > now}
        if holder not in held and len(held) >= limit:
            self._slots[key] = held
            return False
        held[holder] = now + ttl_seconds
        self._slots[key] = held
        return True

    async def refresh_slot(self, key: str, holder: str, ttl_seconds: int) -> None:
        held = self._slots.get(key)
        if held is not None and holder in held:
            held[holder] = time.monotonic() + ttl_seconds

    async def release_slot(self, key: str, holder: str) -> None:
        held = self._slots.get(key)
        if held is not None:
            held.pop(holder, None)
            if not held:
                del self._slots[key]

    async def close(self) -> None:
        self._fanout = _LocalFanout()


# Holds a slot if fewer than ARGV[2] unexpired holders exist: one atomic step on any number
# of processes. KEYS[1] = zset of holder → expiry (unix ms).
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and
   redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisEventBus:
    """Redis pub/sub across processes. Each process holds one pattern subscription to the
    whole namespace (`<prefix>:*`) and fans events out locally, so a new local subscriber
    is live at once and a process uses two Redis connections however many streams it has."""

    def __init__(self, url: str, *, prefix: str) -> None:
        from redis.asyncio import Redis

        self._prefix = prefix
        self._redis: Redis = Redis.from_url(url)
        self._fanout = _LocalFanout()
        self._reader: asyncio.Task[None] | None = None
        self._acquire = self._redis.register_script(_ACQUIRE)

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    async def start(self) -> None:
        """Subscribe before serving, so nothing published afterwards is missed."""
        pubsub = self._redis.pubsub()
        await pubsub.psubscribe(self._key("ch:*"))
        # The confirmation: from here on every publication reaches this process.
        while await pubsub.get_message(timeout=1.0) is None:
            pass
        self._reader = asyncio.create_task(self._read(pubsub), name="events.redis-reader")

    async def _read(self, pubsub: Any) -> None:
        skip = len(self._key("ch:"))
        backoff = 0.1
        try:
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    # redis-py re-subscribes on reconnect; what was published meanwhile
                    # is gone, so every subscriber re-reads the database.
                    log.warning("events.redis_disconnected", error=str(exc))
                    self._fanout.deliver_all(RESYNC)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                except Exception as exc:  # redis.ConnectionError is not an OSError
                    log.warning("events.redis_error", error=str(exc))
                    self._fanout.deliver_all(RESYNC)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.1
                if message is None or message.get("type") != "pmessage":
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                try:
                    event = json.loads(message["data"])
                except (ValueError, TypeError):
                    continue
                self._fanout.deliver(channel[skip:], event)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        try:
            await self._redis.publish(self._key(f"ch:{channel}"), json.dumps(event, default=str))
        except Exception as exc:
            log.warning("events.publish_failed", channel=channel, error=str(exc))

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscription(channel)

    async def claim_once(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self._redis.set(self._key(key), b"1", nx=True, ex=ttl_seconds))

    async def acquire_slot(self, key: str, holder: str, limit: int, ttl_seconds: int) -> bool:
        now_ms = int(time.time() * 1000)
        result = await self._acquire(
            keys=[self._key(key)],
            args=[now_ms, limit, holder, now_ms + ttl_seconds * 1000, ttl_seconds * 1000],
        )
        return bool(result)

    async def refresh_slot(self, key: str, holder: str, ttl_seconds: int) -> None:
        until = int(time.time() * 1000) + ttl_seconds * 1000
        await self._redis.zadd(self._key(key), {holder: until}, xx=True)
        await self._redis.pexpire(self._key(key), ttl_seconds * 1000)

    async def release_slot(self, key: str, holder: str) -> None:
        await self._redis.zrem(self._key(key), holder)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._redis.aclose()
