"""Delivery: retries with backoff until success or the last attempt, 410 and long failure
streaks disabling the endpoint, atomic claims, lapsed claims retried, housekeeping."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, utcnow
from deskpilot.webhooks import delivery as dispatch
from deskpilot.webhooks import service
from deskpilot.webhooks.addresses import rules_for
from deskpilot.webhooks.delivery import dispatcher_for
from deskpilot.webhooks.signing import SecretBox
from tests.webhooks.conftest import (
    all_settled,
    create_webhook,
    deliveries,
    eventually,
    stop_dispatcher,
)
from tests.webhooks.receiver import Receiver


async def send_test_event(client: Any, org: Any, webhook_id: str) -> dict[str, Any]:
    response = await client.post(f"/webhooks/{webhook_id}/test", headers=org.headers)
    assert response.status_code == 202, response.text
    sent: dict[str, Any] = response.json()
    return sent


async def endpoint(sessionmaker: Any, webhook_id: str) -> WebhookEndpoint:
    async with sessionmaker() as db:
        found = await db.get(WebhookEndpoint, uuid.UUID(webhook_id))
    assert found is not None
    return found


class TestRetries:
    async def test_three_500s_then_200_deliver_the_event_exactly_once(
        self, client, org, sessionmaker
    ):
        receiver = Receiver(script=lambda _r, count: (500 if count < 3 else 200, 0.0)).start()
        try:
            hook = await create_webhook(client, org, receiver.url)
            sent = await send_test_event(client, org, hook["id"])
            await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="success")
            await asyncio.sleep(0.3)  # time for any stray extra attempt to show up
            attempts = receiver.received(ok_only=False)
            assert [r.status for r in attempts] == [500, 500, 500, 200]
            assert [r.attempt for r in attempts] == [1, 2, 3, 4]
            assert {r.event_id for r in attempts} == {sent["event_id"]}
            assert len({r.body for r in attempts}) == 1
            [delivery] = await deliveries(sessionmaker, hook["id"])
            assert delivery.status == "succeeded" and delivery.attempts == 4
            assert delivery.response_status == 200 and delivery.error is None
            assert (await endpoint(sessionmaker, hook["id"])).failing_since is None
        finally:
            receiver.stop()

    async def test_retries_wait_per_the_schedule(self, client, org, sessionmaker):
        receiver = Receiver(script=lambda _r, count: (503 if count < 2 else 200, 0.0)).start()
        try:
            hook = await create_webhook(client, org, receiver.url)
            await send_test_event(client, org, hook["id"])
            await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="success")
            first, second, third = (r.at for r in receiver.received(ok_only=False))
            # 0.1 s pauses with ±20 % jitter.
            assert 0.075 <= second - first < 2.0 and 0.075 <= third - second < 2.0
        finally:
            receiver.stop()

    async def test_gives_up_after_the_last_attempt(self, client, org, sessionmaker, receiver):
        receiver.script = lambda _r, _c: (500, 0.0)
        hook = await create_webhook(client, org, receiver.url)
        await send_test_event(client, org, hook["id"])
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="failure")
        [delivery] = await deliveries(sessionmaker, hook["id"])
        assert delivery.status == "failed" and delivery.attempts == 8
        assert delivery.error == "HTTP 500" and delivery.next_attempt_at is None
        assert len(receiver.received(ok_only=False)) == 8
        webhook = await endpoint(sessionmaker, hook["id"])
        assert webhook.is_enabled and webhook.failing_since is not None

    async def test_a_receiver_that_is_down_is_retried_until_it_is_back(
        self, client, org, sessionmaker
    ):
        receiver = Receiver()  # not started: connections are refused
        hook = await create_webhook(client, org, receiver.url)
        await send_test_event(client, org, hook["id"])

        async def refused() -> bool:
            found = await deliveries(sessionmaker, hook["id"])
            return bool(found) and found[0].attempts >= 2

        await eventually(refused, what="refused attempts")
        [delivery] = await deliveries(sessionmaker, hook["id"])
        assert delivery.status == "retrying" and "ConnectError" in (delivery.error or "")
        receiver.start()
        try:
            await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="success")
            assert len(receiver.received()) == 1
        finally:
            receiver.stop()


class TestEndpointHealth:
    async def test_410_disables_the_endpoint_as_gone(self, client, org, sessionmaker, receiver):
        receiver.script = lambda _r, _c: (410, 0.0)
        hook = await create_webhook(client, org, receiver.url)
        await send_test_event(client, org, hook["id"])
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="failure")
        [delivery] = await deliveries(sessionmaker, hook["id"])
        assert delivery.status == "failed" and delivery.attempts == 1
        read = (await client.get(f"/webhooks/{hook['id']}", headers=org.headers)).json()
        assert read["enabled"] is False and read["disabled_reason"] == "gone"
        async with transaction(sessionmaker) as db:
            assert (
                await service.emit(
                    db, org_id=uuid.UUID(org.id), event="csat.requested", data={"x": 1}
                )
                is None
            )

    async def test_three_days_of_failures_disable_the_endpoint_as_failing(
        self, client, org, sessionmaker, receiver
    ):
        receiver.script = lambda _r, _c: (500, 0.0)
        hook = await create_webhook(client, org, receiver.url)
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(WebhookEndpoint)
                .where(WebhookEndpoint.id == uuid.UUID(hook["id"]))
                .values(failing_since=utcnow() - timedelta(days=3, minutes=1))
            )
        await send_test_event(client, org, hook["id"])
        await eventually(
            lambda: len(receiver.received(ok_only=False)) >= 1, what="the failed attempt"
        )

        async def disabled() -> bool:
            return not (await endpoint(sessionmaker, hook["id"])).is_enabled

        await eventually(disabled, what="the endpoint disabled")
        read = (await client.get(f"/webhooks/{hook['id']}", headers=org.headers)).json()
        assert read["disabled_reason"] == "failing"
        await asyncio.sleep(0.3)
        assert len(receiver.received(ok_only=False)) == 1  # no retry to a disabled endpoint


async def pending_deliveries(sessionmaker: Any, org: Any, hook_id: str, count: int) -> None:
    """`count` test events recorded while no dispatcher runs."""
    async with transaction(sessionmaker) as db:
        webhook = await service.get_webhook(
            db, org_id=uuid.UUID(org.id), webhook_id=uuid.UUID(hook_id)
        )
        for _ in range(count):
            await service.send_test(db, webhook=webhook)


class TestClaims:
    async def test_concurrent_dispatchers_claim_each_attempt_once(
        self, app, client, org, sessionmaker, settings, receiver
    ):
        await stop_dispatcher(app)
        hook = await create_webhook(client, org, receiver.url)
        await pending_deliveries(sessionmaker, org, hook["id"], 30)
        claims = await asyncio.gather(
            *(dispatch.claim_due(sessionmaker, settings, limit=30) for _ in range(6))
        )
        claimed = [c.delivery_id for batch in claims for c in batch]
        assert len(claimed) == len(set(claimed)) == 30
        assert all(c.attempt == 1 for batch in claims for c in batch)

    async def test_a_lapsed_claim_is_retried_and_its_holder_cannot_record(
        self, app, client, org, sessionmaker, settings, receiver
    ):
        ctx = await stop_dispatcher(app)
        hook = await create_webhook(client, org, receiver.url)
        await pending_deliveries(sessionmaker, org, hook["id"], 1)
        [crashed] = await dispatch.claim_due(sessionmaker, settings, limit=10)
        # Held: nobody else may take it.
        assert await dispatch.claim_due(sessionmaker, settings, limit=10) == []
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(WebhookDelivery).values(
                    claimed_at=utcnow() - dispatch.lease(settings) - timedelta(seconds=1)
                )
            )
        [retry] = await dispatch.claim_due(sessionmaker, settings, limit=10)
        assert retry.delivery_id == crashed.delivery_id and retry.attempt == 2
        late = dispatch.Outcome(utcnow(), 500, 5, "HTTP 500")
        assert await dispatch.record_outcome(sessionmaker, settings, crashed, late) is None
        transport = rules_for(ctx).transport(max_connections=1)
        async with httpx.AsyncClient(transport=transport) as http:
            outcome = await dispatch.attempt(
                http, retry, box=SecretBox(settings.secret_key()), settings=settings
            )
        assert await dispatch.record_outcome(sessionmaker, settings, retry, outcome) == (
            "succeeded"
        )
        [request] = receiver.received()
        assert request.attempt == 2 and request.event_id == str(retry.event_id)

    async def test_a_restarted_in_process_dispatcher_takes_back_its_own_claims(
        self, app, client, org, sessionmaker, settings, receiver
    ):
        ctx = await stop_dispatcher(app)
        hook = await create_webhook(client, org, receiver.url)
        await pending_deliveries(sessionmaker, org, hook["id"], 2)
        await dispatch.claim_due(sessionmaker, settings, limit=10)  # then "killed"
        dispatcher_for(ctx).ensure_running()
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 2), what="both")
        assert sorted(r.attempt for r in receiver.received()) == [2, 2]


class TestHousekeeping:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"WEBHOOKS_ALLOW_HTTP": True, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True}

    async def test_prunes_old_finished_deliveries_and_their_events(
        self, app, client, org, sessionmaker, settings, receiver
    ):
        hook = await create_webhook(client, org, receiver.url)
        for _ in range(2):
            await send_test_event(client, org, hook["id"])
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 2), what="both")
        old = utcnow() - dispatch.RETENTION - timedelta(days=1)
        async with transaction(sessionmaker) as db:
            first = (await deliveries(sessionmaker, hook["id"]))[0]
            await db.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id == first.id)
                .values(created_at=old)
            )
            await db.execute(
                sa.update(WebhookEvent)
                .where(WebhookEvent.seq == first.event_seq)
                .values(created_at=old)
            )
        await dispatch.prune(sessionmaker)
        left = await deliveries(sessionmaker, hook["id"])
        assert [d.id for d in left] != [first.id] and len(left) == 1
        async with sessionmaker() as db:
            events = list(await db.scalars(sa.select(WebhookEvent.seq)))
        assert first.event_seq not in events and len(events) == 1

    async def test_fails_a_delivery_whose_last_attempt_never_reported(
        self, app, client, org, sessionmaker, settings, receiver
    ):
        await stop_dispatcher(app)
        hook = await create_webhook(client, org, receiver.url)
        await pending_deliveries(sessionmaker, org, hook["id"], 1)
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(WebhookDelivery).values(
                    attempts=dispatch.max_attempts(settings),
                    claimed_at=utcnow() - timedelta(hours=1),
                    claim_token=uuid.uuid4(),
                )
            )
        await dispatch.fail_exhausted(sessionmaker, settings)
        [delivery] = await deliveries(sessionmaker, hook["id"])
        assert delivery.status == "failed" and delivery.claim_token is None
