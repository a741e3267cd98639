"""Org API: webhooks (API.md 3.10): endpoints, secret rotation, test events, the delivery log
and redelivery."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.deps import CurrentOrg, Db, State
from deskpilot.models import WebhookEndpoint
from deskpilot.pagination import CursorPage
from deskpilot.schemas import error_responses
from deskpilot.webhooks import service
from deskpilot.webhooks.addresses import rules_for
from deskpilot.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from deskpilot.webhooks.signing import SecretBox

router = APIRouter(tags=["Webhooks"], responses=error_responses(400, 401, 404, 413, 429, 500))
Limit = Annotated[int, Query(ge=1, le=100)]


def webhook_read(webhook: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(
        id=webhook.id,
        url=webhook.url,
        events=list(webhook.events),
        description=webhook.description,
        enabled=webhook.is_enabled,
        disabled_reason=webhook.disabled_reason,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def delivery_read(view: service.DeliveryView) -> DeliveryRead:
    delivery = view.delivery
    is_open = delivery.status in ("pending", "retrying")
    return DeliveryRead(
        id=delivery.id,
        event_id=view.event_id,
        event=delivery.event,
        status=delivery.status,
        attempts=delivery.attempts,
        last_attempt_at=delivery.last_attempt_at,
        next_attempt_at=delivery.next_attempt_at if is_open else None,
        response_status=delivery.response_status,
        response_time_ms=delivery.response_time_ms,
        error=delivery.error,
        created_at=delivery.created_at,
    )


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Register an endpoint; its signing secret is shown only here",
    responses=error_responses(409),
)
async def create_webhook(
    body: WebhookCreate, org: CurrentOrg, db: Db, state: State
) -> WebhookCreated:
    created = await service.create_webhook(
        db,
        org_id=org.id,
        data=body,
        rules=rules_for(state.tasks),
        box=SecretBox(state.secret_key),
    )
    return WebhookCreated(**webhook_read(created.webhook).model_dump(), secret=created.secret)


@router.get("/webhooks", summary="Every endpoint (at most 10), newest first")
async def list_webhooks(org: CurrentOrg, db: Db) -> list[WebhookRead]:
    return [webhook_read(w) for w in await service.list_webhooks(db, org_id=org.id)]


@router.get("/webhooks/{webhook_id}", summary="One endpoint")
async def read_webhook(webhook_id: uuid.UUID, org: CurrentOrg, db: Db) -> WebhookRead:
    return webhook_read(await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    summary="Change an endpoint: omitted fields unchanged; enabling clears disabled_reason",
)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, org: CurrentOrg, db: Db, state: State
) -> WebhookRead:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    await service.update_webhook(db, webhook=webhook, changes=body, rules=rules_for(state.tasks))
    return webhook_read(webhook)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an endpoint and its delivery log; nothing more is sent to it",
)
async def delete_webhook(webhook_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    await service.delete_webhook(db, webhook=webhook)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    summary="A new signing secret; the old one keeps signing beside it for 24 h",
)
async def rotate_secret(
    webhook_id: uuid.UUID, org: CurrentOrg, db: Db, state: State
) -> WebhookSecret:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    secret = await service.rotate_secret(db, webhook=webhook, box=SecretBox(state.secret_key))
    return WebhookSecret(secret=secret)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a webhook.test event to this endpoint",
    responses=error_responses(409),
)
async def send_test(webhook_id: uuid.UUID, org: CurrentOrg, db: Db) -> DeliveryRead:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    return delivery_read(await service.send_test(db, webhook=webhook))


@router.get("/webhooks/{webhook_id}/deliveries", summary="The delivery log, newest first")
async def list_deliveries(
    webhook_id: uuid.UUID,
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    status: DeliveryStatus | None = None,
) -> CursorPage[DeliveryRead]:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    views, next_cursor = await service.list_deliveries(
        db, webhook=webhook, status=status, cursor=cursor, limit=limit
    )
    return CursorPage(items=[delivery_read(view) for view in views], next=next_cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a past event again (a new delivery, the same event id)",
    responses=error_responses(409),
)
async def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, org: CurrentOrg, db: Db
) -> DeliveryRead:
    webhook = await service.get_webhook(db, org_id=org.id, webhook_id=webhook_id)
    return delivery_read(await service.redeliver(db, webhook=webhook, delivery_id=delivery_id))
