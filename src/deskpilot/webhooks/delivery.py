"""The dispatcher: sends the outbox's deliveries, in every process that runs background jobs
(`deskpilot serve` with in-process jobs, each `deskpilot worker` when scaled out).

A delivery is claimed by one conditional UPDATE (open, due, no live claim on it, its
endpoint enabled, and no earlier open delivery of the same conversation to the same
endpoint), so dispatchers in any number of processes never send the same attempt twice.
With it come the conversation's later due deliveries to that endpoint: one task sends the
chain in order and gives back what follows a failure. Requests go out with no database
connection held, and only the claim's holder writes their outcome. A claim whose process
died lapses after a lease and is taken again: a crash costs a retry, never an event.
Requests run on the dispatcher's own concurrency, never in the job runner's slots, so a
slow receiver cannot hold up the AI's turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from deskpilot import events
from deskpilot.config import Settings
from deskpilot.crawler import BlockedAddressError
from deskpilot.db import transaction
from deskpilot.jobs import TaskContext
from deskpilot.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from deskpilot.models.webhook import OPEN_STATUSES
from deskpilot.webhooks.addresses import UrlRules, rules_for
from deskpilot.webhooks.service import DUE_CHANNEL, iso_millis
from deskpilot.webhooks.signing import InvalidToken, SecretBox, signature_header

log = structlog.get_logger()

RESOURCE = "webhooks.dispatcher"
USER_AGENT = "deskpilot-webhooks/1"
# With no notice on the bus, the dispatcher still looks for due deliveries this often.
POLL_SECONDS = 5.0
# While requests are in flight, the dispatcher waits this long after waking, so that the
# results of several are written in one transaction.
BATCH_WINDOW_SECONDS = 0.005
# A notice of new deliveries is acted on this much later: the reply path that emitted goes
# on undisturbed (the AI's turn follows a contact's message), and the deliveries of the
# meantime go out together. Measured with back-to-back turns on 2 cores: at 0.1 s the
# delivery work added ~15 ms to the AI's replies, at 0.5 s it is lost in the noise.
NOTICE_DELAY_SECONDS = 0.5
JITTER = 0.2
# Nothing but failures for this long disables the endpoint (`failing`).
FAILING_AFTER = timedelta(days=3)
# Deliveries of one conversation sent in one go, one after the other (see `_claim`).
MAX_CHAIN = 20
# Finished deliveries, and events no delivery needs any more, are kept this long.
RETENTION = timedelta(days=30)
_PRUNE_BATCH = 1000
# A receiver's answer is read this far (so the connection can be reused), never further.
_MAX_RESPONSE_BYTES = 64 * 1024
_D = WebhookDelivery


def max_attempts(settings: Settings) -> int:
    return len(settings.WEBHOOKS_RETRY_SCHEDULE_SECONDS) + 1


def lease(settings: Settings) -> timedelta:
    """How long a claim holds: past one request's timeout and the writes around it."""
    return timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + 10)


def retry_delay(settings: Settings, attempt: int) -> timedelta:
    """The pause after failed attempt `attempt` (1-based), with ±JITTER."""
    pause = settings.WEBHOOKS_RETRY_SCHEDULE_SECONDS[attempt - 1]
    spread = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret
    return timedelta(seconds=pause * spread)


# --- claiming -----------------------------------------------------------------------------


# The statements below are built once, with parameters: building and hashing them per call
# was a good part of the dispatcher's own time.
_NOW: sa.BindParameter[datetime] = sa.bindparam("now")


def _claimable() -> list[sa.ColumnElement[bool]]:
    earlier = aliased(WebhookDelivery)
    blocked = (
        sa.select(earlier.id)
        .where(
            earlier.endpoint_id == _D.endpoint_id,
            earlier.conversation_id == _D.conversation_id,
            earlier.event_seq < _D.event_seq,
            earlier.status.in_(OPEN_STATUSES),
        )
        .exists()
    )
    enabled = (
        sa.select(WebhookEndpoint.id)
        .where(WebhookEndpoint.id == _D.endpoint_id, WebhookEndpoint.is_enabled.is_(True))
        .exists()
    )
    return [
        _D.status.in_(OPEN_STATUSES),
        _D.next_attempt_at <= _NOW,
        sa.or_(_D.claimed_at.is_(None), _D.claimed_at < sa.bindparam("lapsed_before")),
        _D.attempts < sa.bindparam("max_attempts"),
        enabled,
        ~blocked,
    ]


@functools.cache
def _claim_statements() -> tuple[sa.Select[Any], sa.Update, sa.Select[Any]]:
    candidates = (
        sa.select(_D.id)
        .where(*_claimable())
        .order_by(_D.next_attempt_at, _D.event_seq)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    # The same conditions again, in the UPDATE: a row another process claimed (or finished)
    # since the SELECT no longer matches and is left to it.
    claim = (
        sa.update(_D)
        .where(_D.id.in_(sa.bindparam("candidates", expanding=True)), *_claimable())
        .values(claimed_at=_NOW, claim_token=sa.bindparam("token"), attempts=_D.attempts + 1)
        .returning(_D.id, _D.endpoint_id, _D.conversation_id, _D.event_seq)
        .execution_options(synchronize_session=False)
    )
    details = (
        sa.select(
            _D.id,
            _D.attempts,
            _D.org_id,
            _D.endpoint_id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret_encrypted,
            WebhookEndpoint.previous_secret_encrypted,
            WebhookEndpoint.previous_secret_expires_at,
            WebhookEndpoint.failing_since,
            WebhookEvent.id,
            WebhookEvent.event,
            WebhookEvent.conversation_id,
            WebhookEvent.data,
            WebhookEvent.created_at,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == _D.endpoint_id)
        .join(WebhookEvent, WebhookEvent.seq == _D.event_seq)
        .where(_D.id.in_(sa.bindparam("claimed", expanding=True)))
    )
    return candidates, claim, details


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt this process holds, with everything needed to make it."""

    delivery_id: uuid.UUID
    token: uuid.UUID
    attempt: int
    org_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret_encrypted: str
    previous_secret_encrypted: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    event_id: uuid.UUID
    event: str
    conversation_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


async def claim_due(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, limit: int
) -> list[Claimed]:
    """Claim up to `limit` due deliveries for this process, each with the deliveries of its
    conversation to its endpoint that are due after it (each claim counts as an attempt)."""
    async with transaction(sessionmaker) as db:
        chains = await _claim(db, settings, limit=limit, now=utcnow())
    return [claimed for chain in chains for claimed in chain]


async def _claim(
    db: AsyncSession, settings: Settings, *, limit: int, now: datetime
) -> list[list[Claimed]]:
    """Up to `limit` chains: a due delivery nothing holds up, then, when it belongs to a
    conversation, the deliveries of that conversation to that endpoint due after it, in
    order (sent one after the other by one task: one round trip of ours per burst of a
    conversation's events, not one per event)."""
    candidates, claim, details = _claim_statements()
    conditions = {
        "now": now,
        "lapsed_before": now - lease(settings),
        "max_attempts": max_attempts(settings),
    }
    token = uuid.uuid4()
    found = list(await db.scalars(candidates, {**conditions, "limit": limit}))
    if not found:
        return []
    heads = (await db.execute(claim, {**conditions, "candidates": found, "token": token})).tuples()
    chains: dict[uuid.UUID, list[uuid.UUID]] = {}
    streams: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, int]] = {}
    for head_id, endpoint_id, conversation_id, event_seq in heads:
        chains[head_id] = [head_id]
        if conversation_id is not None:
            streams[(endpoint_id, conversation_id)] = (head_id, event_seq)
    if streams:
        await _claim_followers(db, settings, chains, streams, token=token, now=now)
    if not chains:
        return []
    rows = await db.execute(details, {"claimed": [i for chain in chains.values() for i in chain]})
    by_id = {row[0]: Claimed(row[0], token, *row[1:]) for row in rows.tuples()}
    return [[by_id[i] for i in chain] for chain in chains.values()]


async def _claim_followers(
    db: AsyncSession,
    settings: Settings,
    chains: dict[uuid.UUID, list[uuid.UUID]],
    streams: dict[tuple[uuid.UUID, uuid.UUID], tuple[uuid.UUID, int]],
    *,
    token: uuid.UUID,
    now: datetime,
) -> None:
    """Extend each chain with its stream's open deliveries after the head, in order, up to
    the first that is not due yet or not free (the rest keep waiting behind it)."""
    lapsed_before = now - lease(settings)
    rows = await db.execute(
        sa.select(
            _D.id,
            _D.endpoint_id,
            _D.conversation_id,
            _D.next_attempt_at,
            _D.claimed_at,
            _D.attempts,
        )
        .where(
            _D.status.in_(OPEN_STATUSES),
            sa.or_(
                *(
                    sa.and_(
                        _D.endpoint_id == endpoint_id,
                        _D.conversation_id == conversation_id,
                        _D.event_seq > event_seq,
                    )
                    for (endpoint_id, conversation_id), (_, event_seq) in streams.items()
                )
            ),
        )
        .order_by(_D.endpoint_id, _D.conversation_id, _D.event_seq, _D.created_at)
        .limit(len(streams) * MAX_CHAIN)
    )
    wanted: dict[uuid.UUID, uuid.UUID] = {}  # follower -> head, in stream order
    lengths = {head: len(chain) for head, chain in chains.items()}
    stopped: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for follower, endpoint_id, conversation_id, due, claimed_at, attempts in rows.tuples():
        assert conversation_id is not None  # the query asks for streams' deliveries only
        stream = (endpoint_id, conversation_id)
        head = streams[stream][0]
        if stream in stopped or lengths[head] >= MAX_CHAIN:
            continue
        if (
            due is None
            or due > now
            or (claimed_at is not None and claimed_at >= lapsed_before)
            or attempts >= max_attempts(settings)
        ):
            stopped.add(stream)
            continue
        wanted[follower] = head
        lengths[head] += 1
    if not wanted:
        return
    taken = set(
        await db.scalars(
            sa.update(_D)
            .where(
                _D.id.in_(list(wanted)),
                _D.status.in_(OPEN_STATUSES),
                sa.or_(_D.claimed_at.is_(None), _D.claimed_at < lapsed_before),
            )
            .values(claimed_at=now, claim_token=token, attempts=_D.attempts + 1)
            .returning(_D.id)
            .execution_options(synchronize_session=False)
        )
    )
    broken: set[uuid.UUID] = set()
    for follower, head in wanted.items():  # in stream order
        if head in broken or follower not in taken:
            broken.add(head)
            continue
        chains[head].append(follower)
    # Taken after a gap (another process got in between): not ours to send out of order.
    stray = [f for f, h in wanted.items() if f in taken and f not in chains[h]]
    if stray:
        await db.execute(
            sa.update(_D)
            .where(_D.id.in_(stray), _D.claim_token == token)
            .values(claimed_at=None, claim_token=None, attempts=_D.attempts - 1)
            .execution_options(synchronize_session=False)
        )


async def release_claims(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """In-process jobs: this process is the only dispatcher, so claims a previous run left
    (killed mid-request) are void; those deliveries go again now rather than after a lease."""
    async with transaction(sessionmaker) as db:
        await db.execute(
            sa.update(_D)
            .where(_D.claimed_at.is_not(None), _D.status.in_(OPEN_STATUSES))
            .values(claimed_at=None, claim_token=None)
            .execution_options(synchronize_session=False)
        )


# --- one attempt --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    started_at: datetime
    status_code: int | None
    elapsed_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def render(claimed: Claimed, public_url: str) -> bytes:
    """The request body: the envelope of API.md 5, the same bytes on every attempt."""
    data = claimed.data
    if data.get("attachments") and claimed.conversation_id is not None:
        # Files stored by deskpilot are downloaded through the Org API.
        base = f"{public_url}/chat/sessions/{claimed.conversation_id}/attachments"
        data = {
            **data,
            "attachments": [
                {**item, "url": item.get("url") or f"{base}/{item['id']}"}
                for item in data["attachments"]
            ],
        }
    envelope = {
        "id": str(claimed.event_id),
        "event": claimed.event,
        "created_at": iso_millis(claimed.created_at),
        "organization_id": str(claimed.org_id),
        "data": data,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _signing_secrets(claimed: Claimed, box: SecretBox, now: datetime) -> list[str]:
    found = [box.open(claimed.secret_encrypted)]
    expires = claimed.previous_secret_expires_at
    if claimed.previous_secret_encrypted and expires is not None and expires > now:
        found.append(box.open(claimed.previous_secret_encrypted))
    return found


async def attempt(
    client: httpx.AsyncClient,
    claimed: Claimed,
    *,
    box: SecretBox,
    settings: Settings,
) -> Outcome:
    """POST the event once. Never raises for what the receiver or the network did."""
    started_at = utcnow()
    clock = time.monotonic()
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    status_code: int | None = None
    error: str | None = None
    try:
        body = render(claimed, settings.PUBLIC_URL)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Deskpilot-Signature": signature_header(
                _signing_secrets(claimed, box, started_at), timestamp, body
            ),
            "X-Deskpilot-Event": claimed.event,
            "X-Deskpilot-Event-Id": str(claimed.event_id),
            "X-Deskpilot-Attempt": str(claimed.attempt),
        }
        async with asyncio.timeout(timeout):
            request = client.build_request("POST", claimed.url, content=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= _MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except (TimeoutError, httpx.TimeoutException):
        error = f"timed out after {timeout:g} s"
    except BlockedAddressError as exc:
        error = f"refused to connect: {exc.reason}"
    except InvalidToken:
        error = "the signing secret cannot be read (SECRET_KEY changed?); rotate the secret"
    except (httpx.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    elapsed_ms = int((time.monotonic() - clock) * 1000)
    return Outcome(started_at, status_code, elapsed_ms, error[:500] if error else None)


def _result(
    settings: Settings, claimed: Claimed, outcome: Outcome, now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "claimed_at": None,
        "claim_token": None,
        "response_status": outcome.status_code,
        "response_time_ms": outcome.elapsed_ms,
        "error": outcome.error,
    }
    if outcome.succeeded:
        return values | {"status": "succeeded", "next_attempt_at": None}
    if outcome.status_code == 410 or claimed.attempt >= max_attempts(settings):
        return values | {"status": "failed", "next_attempt_at": None}
    return values | {
        "status": "retrying",
        "next_attempt_at": now + retry_delay(settings, claimed.attempt),
    }


@functools.cache
def _record_statement() -> sa.Update:
    table = cast(sa.Table, WebhookDelivery.__table__)
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("delivery_id"))
        .values(
            status=sa.bindparam("new_status"),
            next_attempt_at=sa.bindparam("next_at"),
            last_attempt_at=sa.bindparam("tried_at"),
            claimed_at=None,
            claim_token=None,
            response_status=sa.bindparam("code"),
            response_time_ms=sa.bindparam("ms"),
            error=sa.bindparam("why"),
        )
    )


async def record_outcomes(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    results: Sequence[tuple[Claimed, Outcome]],
    released: Sequence[Claimed] = (),
) -> list[str | None]:
    """Write attempts' results, in one transaction, each only while this process still holds
    its claim, and what they mean for their endpoints; give back `released` claims never
    attempted (the rest of a chain after a failure). Returns each result's new status,
    None where the claim was lost (it lapsed and another process took the delivery)."""
    async with transaction(sessionmaker) as db:
        return await _record(db, settings, results, released, now=utcnow())


@functools.cache
def _release_statement() -> sa.Update:
    table = cast(sa.Table, WebhookDelivery.__table__)
    return (
        sa.update(table)
        .where(
            table.c.id == sa.bindparam("delivery_id"), table.c.claim_token == sa.bindparam("held")
        )
        .values(claimed_at=None, claim_token=None, attempts=table.c.attempts - 1)
    )


async def _record(
    db: AsyncSession,
    settings: Settings,
    results: Sequence[tuple[Claimed, Outcome]],
    released: Sequence[Claimed] = (),
    *,
    now: datetime,
) -> list[str | None]:
    if released:
        connection = await db.connection()
        await connection.execute(
            _release_statement(),
            [{"delivery_id": c.delivery_id, "held": c.token} for c in released],
        )
    if not results:
        return []
    # Locked from this check to the write (PostgreSQL): a claim that lapses meanwhile
    # cannot be taken by another process in between.
    held = {
        delivery_id: token
        for delivery_id, token in (
            await db.execute(
                sa.select(_D.id, _D.claim_token)
                .where(_D.id.in_([claimed.delivery_id for claimed, _ in results]))
                .with_for_update()
            )
        ).tuples()
    }
    statuses: list[str | None] = []
    rows: list[dict[str, Any]] = []
    for claimed, outcome in results:
        if held.get(claimed.delivery_id) != claimed.token:
            log.warning("webhooks.claim_lost", delivery_id=str(claimed.delivery_id))
            statuses.append(None)
            continue
        values = _result(settings, claimed, outcome, now)
        statuses.append(str(values["status"]))
        rows.append(
            {
                "delivery_id": claimed.delivery_id,
                "new_status": values["status"],
                "next_at": values["next_attempt_at"],
                "tried_at": outcome.started_at,
                "code": outcome.status_code,
                "ms": outcome.elapsed_ms,
                "why": outcome.error,
            }
        )
    if rows:
        connection = await db.connection()
        await connection.execute(_record_statement(), rows)
    written = [
        (claimed, outcome)
        for (claimed, outcome), status in zip(results, statuses, strict=True)
        if status is not None
    ]
    # A success ends a failure streak; most endpoints have none to end.
    healthy = {
        claimed.endpoint_id
        for claimed, outcome in written
        if outcome.succeeded and claimed.failing_since is not None
    }
    if healthy:
        await db.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(healthy), WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )
    for claimed, outcome in written:
        if not outcome.succeeded:
            await _note_failure(db, claimed, outcome, now)
    return statuses


async def record_outcome(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    claimed: Claimed,
    outcome: Outcome,
) -> str | None:
    """`record_outcomes` for one attempt."""
    [status] = await record_outcomes(sessionmaker, settings, [(claimed, outcome)])
    return status


async def _note_failure(
    db: AsyncSession, claimed: Claimed, outcome: Outcome, now: datetime
) -> None:
    """410 disables the endpoint (`gone`); nothing but failures for FAILING_AFTER disables
    it (`failing`). (A success ends the streak: `record_outcomes`.)"""
    endpoint = WebhookEndpoint
    mine = endpoint.id == claimed.endpoint_id
    disable: sa.ColumnElement[bool]
    if outcome.status_code == 410:
        reason, disable = "gone", sa.true()
    else:
        await db.execute(
            sa.update(endpoint)
            .where(mine, endpoint.failing_since.is_(None))
            .values(failing_since=outcome.started_at)
            .execution_options(synchronize_session=False)
        )
        reason, disable = "failing", endpoint.failing_since <= now - FAILING_AFTER
    result = await db.execute(
        sa.update(endpoint)
        .where(mine, endpoint.is_enabled.is_(True), disable)
        .values(is_enabled=False, disabled_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        log.warning(
            "webhooks.endpoint_disabled", endpoint_id=str(claimed.endpoint_id), reason=reason
        )


# --- housekeeping -------------------------------------------------------------------------


async def fail_exhausted(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Fail deliveries with no attempt left whose last one never reported (its process
    died), or left by a retry schedule that has since been shortened."""
    now = utcnow()
    async with transaction(sessionmaker) as db:
        await db.execute(
            sa.update(_D)
            .where(
                _D.status.in_(OPEN_STATUSES),
                _D.attempts >= max_attempts(settings),
                sa.or_(_D.claimed_at.is_(None), _D.claimed_at < now - lease(settings)),
            )
            .values(
                status="failed",
                next_attempt_at=None,
                claimed_at=None,
                claim_token=None,
                error="no attempt left; the last one never reported back",
            )
            .execution_options(synchronize_session=False)
        )


async def prune(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Delete finished deliveries older than RETENTION, then events no delivery needs, one
    batch of each per call."""
    cutoff = utcnow() - RETENTION
    async with transaction(sessionmaker) as db:
        old = (
            sa.select(_D.id)
            .where(_D.created_at < cutoff, _D.status.not_in(OPEN_STATUSES))
            .limit(_PRUNE_BATCH)
        )
        await db.execute(
            sa.delete(_D)
            .where(_D.id.in_(old.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        unused = (
            sa.select(WebhookEvent.seq)
            .where(
                WebhookEvent.created_at < cutoff,
                ~sa.select(_D.id).where(_D.event_seq == WebhookEvent.seq).exists(),
            )
            .limit(_PRUNE_BATCH)
        )
        await db.execute(
            sa.delete(WebhookEvent)
            .where(WebhookEvent.seq.in_(unused.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )


async def _next_due_in(db: AsyncSession, now: datetime) -> float | None:
    due = await db.scalar(
        sa.select(sa.func.min(_D.next_attempt_at)).where(
            _D.status.in_(OPEN_STATUSES), _D.next_attempt_at > now
        )
    )
    if due is None:
        return None
    return max((due - now).total_seconds(), 0.0)


# --- the dispatcher -----------------------------------------------------------------------


class Dispatcher:
    """Claims due deliveries and sends them, at most WEBHOOKS_CONCURRENCY at once. One loop
    does all its database writes (claims, and the results of finished requests, a batch per
    transaction): on SQLite, concurrent writers would only queue on the file lock. Wakes on
    a notice from the event bus (an emit committed anywhere), when a request ends, when the
    next retry falls due, and every POLL_SECONDS regardless."""

    def __init__(self, ctx: TaskContext, *, rules: UrlRules | None = None) -> None:
        self._ctx = ctx
        self._settings = ctx.settings
        self._concurrency = ctx.settings.WEBHOOKS_CONCURRENCY
        self._box = SecretBox(ctx.settings.secret_key())
        rules = rules or rules_for(ctx)
        self._client = httpx.AsyncClient(
            transport=rules.transport(max_connections=self._concurrency),
            timeout=httpx.Timeout(ctx.settings.WEBHOOKS_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,
        )
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[Claimed, Outcome]] = []
        self._released: list[Claimed] = []
        self._loop: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start the loop, or restart it if it ever ended."""
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run(), name="webhooks.dispatcher")

    async def aclose(self) -> None:
        """Stop: requests in flight are cancelled (their claims lapse into retries); the
        results of finished ones are still written."""
        tasks = [*self._sending, *([self._loop] if self._loop else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._record_finished()
        except Exception:
            log.exception("webhooks.record_failed")
        await self._client.aclose()

    async def _run(self) -> None:
        sessionmaker = self._ctx.sessionmaker
        if self._settings.JOBS_BACKEND == "inprocess":
            await release_claims(sessionmaker)
        bus = events.bus_of(sessionmaker)
        async with contextlib.AsyncExitStack() as stack:
            if bus is not None:
                subscription = await stack.enter_async_context(bus.subscribe(DUE_CHANNEL))
                listener = asyncio.create_task(self._listen(subscription))
                stack.callback(listener.cancel)
            while True:
                self._wake.clear()
                try:
                    pause = await self._pump()
                except Exception:
                    log.exception("webhooks.dispatch_failed")
                    pause = POLL_SECONDS
                if pause > 0:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                    # that arrives as the event is set, and shutdown would never end.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await self._wake.wait()
                if self._sending:
                    # Let other requests in flight finish too: one transaction for them all.
                    await asyncio.sleep(BATCH_WINDOW_SECONDS)

    async def _listen(self, subscription: events.Subscription) -> None:
        while True:
            if await subscription.next(timeout=3600) is not None:
                # The change that emitted is usually followed by more work on the reply
                # path (the AI's turn on a contact message): let it go first.
                await asyncio.sleep(NOTICE_DELAY_SECONDS)
                self._wake.set()

    async def _record_finished(self) -> None:
        """At shutdown: write the results not written yet."""
        if self._finished or self._released:
            batch, self._finished = self._finished, []
            released, self._released = self._released, []
            statuses = await record_outcomes(
                self._ctx.sessionmaker, self._settings, batch, released
            )
            self._log(batch, statuses)

    def _log(self, batch: list[tuple[Claimed, Outcome]], statuses: list[str | None]) -> None:
        for (claimed, outcome), status in zip(batch, statuses, strict=True):
            log.debug(
                "webhooks.attempted",
                delivery_id=str(claimed.delivery_id),
                webhook_event=claimed.event,
                attempt=claimed.attempt,
                status=status,
                response_status=outcome.status_code,
                ms=outcome.elapsed_ms,
            )

    async def _pump(self) -> float:
        """In one transaction, write what finished and claim what is due (a success may
        have let its conversation's next event through); start sending; return the seconds
        until there may be more to do."""
        batch, self._finished = self._finished, []
        released, self._released = self._released, []
        free = self._concurrency - len(self._sending)
        due_in: float | None = None
        try:
            async with transaction(self._ctx.sessionmaker) as db:
                now = utcnow()
                statuses = await _record(db, self._settings, batch, released, now=now)
                chains = await _claim(db, self._settings, limit=free, now=now) if free else []
                if not chains and not self._sending:
                    # Idle: when the next retry falls due (a request ending wakes us anyway).
                    due_in = await _next_due_in(db, now)
        except BaseException:
            # Written on the next round (or, should that never come, lapsed into retries).
            self._finished[:0] = batch
            self._released[:0] = released
            raise
        self._log(batch, statuses)
        for chain in chains:
            task = asyncio.create_task(self._send(chain), name="webhooks.send")
            self._sending.add(task)
            task.add_done_callback(self._sent)
        return POLL_SECONDS if due_in is None else min(due_in, POLL_SECONDS)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        # Its result is to be written, and the conversation's next event may be waiting.
        self._wake.set()

    async def _send(self, chain: list[Claimed]) -> None:
        """A conversation's deliveries in order, until one fails: the rest are given back
        unattempted (they wait behind the failed one). So are those a slow receiver would
        leave no time for within their claim."""
        started = time.monotonic()
        within = lease(self._settings).total_seconds() / 2
        for index, claimed in enumerate(chain):
            if index and time.monotonic() - started > within:
                self._released.extend(chain[index:])
                return
            try:
                outcome = await attempt(
                    self._client, claimed, box=self._box, settings=self._settings
                )
            except Exception:
                # Its claim lapses after the lease and the delivery is retried.
                log.exception("webhooks.send_crashed", delivery_id=str(claimed.delivery_id))
                self._released.extend(chain[index + 1 :])
                return
            self._finished.append((claimed, outcome))
            if not outcome.succeeded:
                self._released.extend(chain[index + 1 :])
                return
            if index + 1 < len(chain):
                self._wake.set()  # its result is written while the chain goes on


def dispatcher_for(ctx: TaskContext) -> Dispatcher:
    dispatcher = ctx.resources.get(RESOURCE)
    if dispatcher is None:
        dispatcher = ctx.resources[RESOURCE] = Dispatcher(ctx)
    assert isinstance(dispatcher, Dispatcher)
    return dispatcher


async def close_dispatcher(ctx: TaskContext) -> None:
    dispatcher = ctx.resources.pop(RESOURCE, None)
    if dispatcher is not None:
        await dispatcher.aclose()
