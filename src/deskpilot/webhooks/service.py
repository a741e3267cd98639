"""An org's webhooks: endpoints (at most ten, secrets shown once and kept encrypted), their
delivery logs, redelivery, test events, a conversation's stored events (for redaction), and
`emit`, which the other services call to record an event in their own transaction: one event
row (the outbox) and one pending delivery per endpoint that wants it. Sending is the
dispatcher's (`delivery.py`), after the commit."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from deskpilot import events
from deskpilot.db import after_commit
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import Org, WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from deskpilot.pagination import apply_cursor, page_of
from deskpilot.tenancy import org_scoped
from deskpilot.webhooks.addresses import UrlRules
from deskpilot.webhooks.schemas import ALL_EVENTS, WebhookCreate, WebhookUpdate
from deskpilot.webhooks.signing import SecretBox, new_secret

log = structlog.get_logger()

MAX_WEBHOOKS_PER_ORG = 10
# After a rotation the previous secret signs too (a second `v1=`) for this long.
ROTATION_OVERLAP = timedelta(hours=24)
# The event-bus channel dispatchers listen on: "deliveries are waiting", after a commit.
DUE_CHANNEL = "webhooks:due"
_TARGETS_KEY = "webhooks.targets"
_RING_KEY = "webhooks.ring"


# --- endpoints ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    webhook: WebhookEndpoint
    secret: str


async def create_webhook(
    db: AsyncSession, *, org_id: uuid.UUID, data: WebhookCreate, rules: UrlRules, box: SecretBox
) -> CreatedWebhook:
    """409 past MAX_WEBHOOKS_PER_ORG; 400 for a URL the rules refuse."""
    await rules.check(data.url)
    # Holds the org row (PostgreSQL) so two creates cannot both see nine and make eleven.
    await db.execute(sa.select(Org.id).where(Org.id == org_id).with_for_update())
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id)
    )
    if (count or 0) >= MAX_WEBHOOKS_PER_ORG:
        raise Conflict(f"An org can have at most {MAX_WEBHOOKS_PER_ORG} webhooks")
    secret = new_secret()
    webhook = WebhookEndpoint(
        org_id=org_id,
        url=data.url,
        events=list(data.events),
        description=data.description,
        is_enabled=data.enabled,
        disabled_reason=None if data.enabled else "manual",
        secret_encrypted=box.seal(secret),
    )
    db.add(webhook)
    await db.flush()
    _forget_targets(db)
    log.info("webhooks.created", org_id=str(org_id), webhook_id=str(webhook.id))
    return CreatedWebhook(webhook, secret)


async def list_webhooks(db: AsyncSession, *, org_id: uuid.UUID) -> list[WebhookEndpoint]:
    """Newest first; at most MAX_WEBHOOKS_PER_ORG, so never paged."""
    return list(
        await db.scalars(
            org_scoped(WebhookEndpoint, org_id).order_by(
                WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc()
            )
        )
    )


async def get_webhook(
    db: AsyncSession, *, org_id: uuid.UUID, webhook_id: uuid.UUID
) -> WebhookEndpoint:
    found = (
        await db.scalars(
            org_scoped(WebhookEndpoint, org_id).where(WebhookEndpoint.id == webhook_id)
        )
    ).first()
    if found is None:
        raise NotFound("Webhook not found")
    return found


async def update_webhook(
    db: AsyncSession, *, webhook: WebhookEndpoint, changes: WebhookUpdate, rules: UrlRules
) -> WebhookEndpoint:
    """PATCH: omitted = unchanged. Enabling clears `disabled_reason` (and the failure
    streak); disabling by hand records `manual`."""
    fields = changes.model_fields_set
    for name in ("url", "events", "enabled"):
        if name in fields and getattr(changes, name) is None:
            raise InvalidInput(f"{name} cannot be null")
    if changes.url is not None:
        await rules.check(changes.url)
        webhook.url = changes.url
    if changes.events is not None:
        webhook.events = list(changes.events)
    if "description" in fields:
        webhook.description = changes.description
    if changes.enabled is True:
        webhook.is_enabled = True
        webhook.disabled_reason = None
        webhook.failing_since = None
    elif changes.enabled is False and webhook.is_enabled:
        webhook.is_enabled = False
        webhook.disabled_reason = "manual"
    if fields:
        webhook.updated_at = utcnow()
    await db.flush()
    _forget_targets(db)
    return webhook


async def delete_webhook(db: AsyncSession, *, webhook: WebhookEndpoint) -> None:
    """Its deliveries go with it (the foreign key cascades); nothing more is sent. So do
    the events no other endpoint has a delivery of: nothing could send or show them again,
    and `conversation_events` (redaction) finds stored events through their deliveries."""
    other = aliased(WebhookDelivery)
    only_here = org_scoped(WebhookDelivery, webhook.org_id).where(
        WebhookDelivery.endpoint_id == webhook.id,
        ~sa.select(other.id)
        .where(other.event_seq == WebhookDelivery.event_seq, other.endpoint_id != webhook.id)
        .exists(),
    )
    await db.execute(
        sa.delete(WebhookEvent)
        .where(
            WebhookEvent.org_id == webhook.org_id,
            WebhookEvent.seq.in_(only_here.with_only_columns(WebhookDelivery.event_seq)),
        )
        .execution_options(synchronize_session=False)
    )
    await db.delete(webhook)
    await db.flush()
    _forget_targets(db)
    log.info("webhooks.deleted", org_id=str(webhook.org_id), webhook_id=str(webhook.id))


async def rotate_secret(db: AsyncSession, *, webhook: WebhookEndpoint, box: SecretBox) -> str:
    """A new secret; the current one keeps signing beside it for ROTATION_OVERLAP (a second
    rotation within that time ends the oldest one's overlap at once)."""
    now = utcnow()
    secret = new_secret()
    webhook.previous_secret_encrypted = webhook.secret_encrypted
    webhook.previous_secret_expires_at = now + ROTATION_OVERLAP
    webhook.secret_encrypted = box.seal(secret)
    webhook.updated_at = now
    await db.flush()
    log.info("webhooks.secret_rotated", org_id=str(webhook.org_id), webhook_id=str(webhook.id))
    return secret


# --- deliveries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: WebhookDelivery
    event_id: uuid.UUID


def _with_event_id(stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt.join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq).add_columns(
        WebhookEvent.id
    )


async def list_deliveries(
    db: AsyncSession,
    *,
    webhook: WebhookEndpoint,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[DeliveryView], str | None]:
    """Newest first."""
    stmt = org_scoped(WebhookDelivery, webhook.org_id).where(
        WebhookDelivery.endpoint_id == webhook.id
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    stmt = apply_cursor(
        _with_event_id(stmt),
        created_col=WebhookDelivery.created_at,
        id_col=WebhookDelivery.id,
        cursor=cursor,
        limit=limit,
    )
    rows = [DeliveryView(row[0], row[1]) for row in await db.execute(stmt)]
    return page_of(rows, limit, lambda view: (view.delivery.created_at, view.delivery.id))


def _require_enabled(webhook: WebhookEndpoint) -> None:
    if not webhook.is_enabled:
        raise Conflict("Webhook is disabled; enable it first")


async def redeliver(
    db: AsyncSession, *, webhook: WebhookEndpoint, delivery_id: uuid.UUID
) -> DeliveryView:
    """Send a past event again as a new delivery (attempts from 1, the same event id, so
    the receiver can tell it is a repeat)."""
    _require_enabled(webhook)
    row = (
        await db.execute(
            _with_event_id(
                org_scoped(WebhookDelivery, webhook.org_id).where(
                    WebhookDelivery.endpoint_id == webhook.id, WebhookDelivery.id == delivery_id
                )
            )
        )
    ).first()
    if row is None:
        raise NotFound("Delivery not found")
    past: WebhookDelivery = row[0]
    delivery = _new_delivery(
        org_id=webhook.org_id,
        endpoint_id=webhook.id,
        event_seq=past.event_seq,
        event=past.event,
        conversation_id=past.conversation_id,
        now=utcnow(),
    )
    db.add(delivery)
    await db.flush()
    _ring_after_commit(db)
    return DeliveryView(delivery, row[1])


async def send_test(db: AsyncSession, *, webhook: WebhookEndpoint) -> DeliveryView:
    """A `webhook.test` event to this endpoint alone, whatever events it subscribes to."""
    _require_enabled(webhook)
    now = utcnow()
    event_id, deliveries = await _record(
        db,
        org_id=webhook.org_id,
        event="webhook.test",
        data={"webhook_id": str(webhook.id), "timestamp": iso_millis(now)},
        conversation_id=None,
        endpoint_ids=[webhook.id],
        now=now,
    )
    return DeliveryView(deliveries[0], event_id)


async def conversation_events(
    db: AsyncSession, *, org_id: uuid.UUID, conversation_id: uuid.UUID, events: Collection[str]
) -> list[WebhookEvent]:
    """The outbox's stored events of one conversation with one of the names in `events`,
    oldest first. An event is kept only while it has a delivery (`emit` writes none without
    one, `delete_webhook` takes the events only its endpoint had, `prune` the ones whose
    last delivery it pruned), so they are found through the deliveries' ordering index,
    (endpoint, conversation): the org has at most ten endpoints, and the work is bounded by
    that conversation's rows."""
    endpoint_ids = list(
        await db.scalars(org_scoped(WebhookEndpoint, org_id).with_only_columns(WebhookEndpoint.id))
    )
    if not endpoint_ids or not events:
        return []
    seqs = (
        org_scoped(WebhookDelivery, org_id)
        .where(
            WebhookDelivery.endpoint_id.in_(endpoint_ids),
            WebhookDelivery.conversation_id == conversation_id,
        )
        .with_only_columns(WebhookDelivery.event_seq)
    )
    return list(
        await db.scalars(
            org_scoped(WebhookEvent, org_id)
            .where(WebhookEvent.seq.in_(seqs), WebhookEvent.event.in_(list(events)))
            .order_by(WebhookEvent.seq)
        )
    )


# --- emitting -----------------------------------------------------------------------------


def iso_millis(moment: datetime) -> str:
    """API.md 1.6: UTC, milliseconds, `Z`."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _forget_targets(db: AsyncSession) -> None:
    db.info.pop(_TARGETS_KEY, None)


async def _targets(db: AsyncSession, org_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str]]]:
    """The org's enabled endpoints and their events: read once per transaction (one
    conversation step can emit several events)."""
    cached = db.info.get(_TARGETS_KEY)
    if (
        cached is not None
        and cached[0] is db.sync_session.get_transaction()
        and org_id in cached[1]
    ):
        found: list[tuple[uuid.UUID, list[str]]] = cached[1][org_id]
        return found
    rows = await db.execute(
        sa.select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.is_enabled.is_(True)
        )
    )
    found = [(endpoint_id, list(names)) for endpoint_id, names in rows.tuples()]
    transaction = db.sync_session.get_transaction()
    if cached is None or cached[0] is not transaction:
        cached = (transaction, dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]]())
        db.info[_TARGETS_KEY] = cached
    cached[1][org_id] = found
    return found


async def wanted_by(db: AsyncSession, *, org_id: uuid.UUID, event: str) -> list[uuid.UUID]:
    """The org's enabled endpoints that subscribe to `event`."""
    return [
        endpoint_id
        for endpoint_id, names in await _targets(db, org_id)
        if event in names or ALL_EVENTS in names
    ]


async def emit(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    event: str,
    data: Mapping[str, Any],
    conversation_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record `event` for every endpoint of the org that wants it, in the caller's
    transaction (so it exists if and only if the change that caused it commits). Returns
    the event id, or None when no endpoint wants it (then nothing is written)."""
    endpoint_ids = await wanted_by(db, org_id=org_id, event=event)
    if not endpoint_ids:
        return None
    event_id, _ = await _record(
        db,
        org_id=org_id,
        event=event,
        data=data,
        conversation_id=conversation_id,
        endpoint_ids=endpoint_ids,
        now=utcnow(),
    )
    return event_id


def _new_delivery(
    *,
    org_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    event_seq: int,
    event: str,
    conversation_id: uuid.UUID | None,
    now: datetime,
) -> WebhookDelivery:
    return WebhookDelivery(
        id=uuid.uuid4(),
        org_id=org_id,
        endpoint_id=endpoint_id,
        event_seq=event_seq,
        event=event,
        conversation_id=conversation_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def _record(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    event: str,
    data: Mapping[str, Any],
    conversation_id: uuid.UUID | None,
    endpoint_ids: Sequence[uuid.UUID],
    now: datetime,
) -> tuple[uuid.UUID, list[WebhookDelivery]]:
    event_id = uuid.uuid4()
    seq = (
        await db.execute(
            sa.insert(WebhookEvent)
            .values(
                id=event_id,
                org_id=org_id,
                event=event,
                conversation_id=conversation_id,
                data=dict(data),
                created_at=now,
            )
            .returning(WebhookEvent.seq)
        )
    ).scalar_one()
    deliveries = [
        _new_delivery(
            org_id=org_id,
            endpoint_id=endpoint_id,
            event_seq=int(seq),
            event=event,
            conversation_id=conversation_id,
            now=now,
        )
        for endpoint_id in endpoint_ids
    ]
    # A Core insert, not the ORM's unit of work: this runs inside every emitting change.
    table = cast(sa.Table, WebhookDelivery.__table__)
    await db.execute(
        sa.insert(table),
        [{column.key: getattr(d, column.key) for column in table.c} for d in deliveries],
    )
    _ring_after_commit(db)
    return event_id, deliveries


def _ring_after_commit(db: AsyncSession) -> None:
    """Once per transaction: tell the dispatchers (any process, through the event bus)
    that deliveries are waiting. Best effort: they also look on their own every few s."""
    transaction = db.sync_session.get_transaction()
    if db.info.get(_RING_KEY) is transaction:
        return
    db.info[_RING_KEY] = transaction
    bus = events.bus_of(db)

    async def ring() -> None:
        if bus is not None:
            await bus.publish(DUE_CHANNEL, {"type": "due"})

    after_commit(db, ring)
