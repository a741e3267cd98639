"""The webhooks Org API (API.md 3.10): registration rules, secrets, the delivery log,
redelivery, test events and tenancy."""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.models import WebhookEndpoint
from deskpilot.webhooks.addresses import RESOURCE as RULES_RESOURCE
from deskpilot.webhooks.addresses import UrlRules
from deskpilot.webhooks.delivery import dispatcher_for
from tests.webhooks.conftest import (
    all_settled,
    create_webhook,
    deliveries,
    eventually,
    readme_verify,
    stop_dispatcher,
)
from tests.webhooks.receiver import Receiver, always


def assert_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"statusCode", "message", "error"}
    assert body["statusCode"] == status
    message: str = body["message"]
    return message


class TestCreate:
    async def test_returns_the_secret_once_and_stores_it_encrypted(
        self, client, org, receiver, sessionmaker
    ):
        created = await create_webhook(
            client, org, receiver.url, ["conversation.closed"], description="CRM"
        )
        secret = created["secret"]
        assert secret.startswith("dp_whsec_")
        body = secret.removeprefix("dp_whsec_")
        assert len(body) == 40 and set(body) <= set(string.ascii_letters + string.digits)
        assert created["events"] == ["conversation.closed"]
        assert created["enabled"] is True and created["disabled_reason"] is None
        read = await client.get(f"/webhooks/{created['id']}", headers=org.headers)
        assert read.status_code == 200 and "secret" not in read.json()
        listed = await client.get("/webhooks", headers=org.headers)
        assert [w["id"] for w in listed.json()] == [created["id"]]
        assert "secret" not in listed.json()[0]
        async with sessionmaker() as db:
            row = await db.get(WebhookEndpoint, uuid.UUID(created["id"]))
        assert row is not None and body not in row.secret_encrypted

    async def test_refuses_an_unknown_event_name_in_the_error_shape(self, client, org, receiver):
        response = await client.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["conversation.closed", "conversation.exploded"]},
            headers=org.headers,
        )
        message = assert_error(response, 400)
        assert message == "events contains an unknown event name 'conversation.exploded'"

    async def test_star_stands_for_every_event(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url, ["*", "csat.requested"])
        assert created["events"] == ["*"]

    async def test_refuses_an_eleventh_webhook(self, client, org, receiver):
        for _ in range(10):
            await create_webhook(client, org, receiver.url)
        response = await client.post(
            "/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=org.headers
        )
        assert "at most 10" in assert_error(response, 409)


class TestUrlRulesByDefault:
    """An install with the defaults: https only, public addresses only."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {}

    async def test_refuses_plain_http(self, client, org):
        response = await client.post(
            "/webhooks",
            json={"url": "http://93.184.216.34/hook", "events": ["*"]},
            headers=org.headers,
        )
        assert assert_error(response, 400) == "url must be https"

    async def test_refuses_urls_resolving_to_private_addresses(self, client, org):
        for url in (
            "https://127.0.0.1/hook",
            "https://localhost:8443/hook",
            "https://[::1]/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
        ):
            response = await client.post(
                "/webhooks", json={"url": url, "events": ["*"]}, headers=org.headers
            )
            assert assert_error(response, 400).startswith("url must resolve to a public address")

    async def test_refuses_a_name_that_resolves_to_a_private_address(self, app, client, org):
        app.state.deskpilot.tasks.resources[RULES_RESOURCE] = UrlRules(
            resolver=_table({"crm.example.test": ["192.168.1.20"]})
        )
        response = await client.post(
            "/webhooks",
            json={"url": "https://crm.example.test/h", "events": ["*"]},
            headers=org.headers,
        )
        assert "192.168.1.20 is a private address" in assert_error(response, 400)

    async def test_accepts_a_name_that_resolves_to_a_public_address(self, app, client, org):
        app.state.deskpilot.tasks.resources[RULES_RESOURCE] = UrlRules(
            resolver=_table({"crm.example.test": ["93.184.216.34"]})
        )
        await create_webhook(client, org, "https://crm.example.test/hooks?x=1")

    async def test_checks_the_url_of_an_update_too(self, app, client, org):
        app.state.deskpilot.tasks.resources[RULES_RESOURCE] = UrlRules(
            resolver=_table({"crm.example.test": ["93.184.216.34"]})
        )
        created = await create_webhook(client, org, "https://crm.example.test/hooks")
        response = await client.patch(
            f"/webhooks/{created['id']}", json={"url": "https://127.0.0.1/x"}, headers=org.headers
        )
        assert_error(response, 400)


class TestUrlRulesAllowed:
    """WEBHOOKS_ALLOW_HTTP and WEBHOOKS_ALLOW_PRIVATE_NETWORKS (the module's settings)."""

    async def test_accepts_http_on_loopback(self, client, org, receiver):
        assert (await create_webhook(client, org, receiver.url))["url"] == receiver.url

    async def test_still_refuses_cloud_metadata(self, client, org):
        response = await client.post(
            "/webhooks",
            json={"url": "http://169.254.169.254/", "events": ["*"]},
            headers=org.headers,
        )
        assert "metadata" in assert_error(response, 400)


def _table(names: dict[str, Sequence[str]]) -> Any:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in names:
            raise OSError(f"unknown host {host}")
        return names[host]

    return resolve


class TestDnsRebinding:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"WEBHOOKS_ALLOW_HTTP": True, "WEBHOOKS_RETRY_SCHEDULE_SECONDS": [30.0]}

    async def test_a_name_re_pointed_at_loopback_after_the_check_is_refused_at_delivery(
        self, app, client, org, receiver, sessionmaker
    ):
        table = {"hooks.example.test": ["93.184.216.34"]}
        ctx = await stop_dispatcher(app)
        ctx.resources[RULES_RESOURCE] = UrlRules(allow_http=True, resolver=_table(table))
        dispatcher_for(ctx).ensure_running()
        url = f"http://hooks.example.test:{receiver.port}/hook"
        created = await create_webhook(client, org, url)
        table["hooks.example.test"] = ["127.0.0.1"]  # the name now points at the receiver
        await client.post(f"/webhooks/{created['id']}/test", headers=org.headers)

        async def refused() -> bool:
            found = await deliveries(sessionmaker, created["id"])
            return bool(found) and found[0].status == "retrying"

        await eventually(refused, what="the refused attempt")
        [delivery] = await deliveries(sessionmaker, created["id"])
        assert delivery.error == "refused to connect: 127.0.0.1 is a loopback address"
        assert receiver.received(ok_only=False) == []


class TestUpdateAndDelete:
    async def test_patch_changes_only_what_is_given(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url, description="CRM")
        response = await client.patch(
            f"/webhooks/{created['id']}", json={"events": ["csat.requested"]}, headers=org.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["events"] == ["csat.requested"]
        assert body["description"] == "CRM" and body["url"] == receiver.url

    async def test_disabling_by_hand_says_manual_and_enabling_clears_it(
        self, client, org, receiver
    ):
        created = await create_webhook(client, org, receiver.url)
        path = f"/webhooks/{created['id']}"
        off = await client.patch(path, json={"enabled": False}, headers=org.headers)
        assert off.json()["enabled"] is False and off.json()["disabled_reason"] == "manual"
        on = await client.patch(path, json={"enabled": True}, headers=org.headers)
        assert on.json()["enabled"] is True and on.json()["disabled_reason"] is None

    async def test_delete_removes_it(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url)
        response = await client.delete(f"/webhooks/{created['id']}", headers=org.headers)
        assert response.status_code == 204
        gone = await client.get(f"/webhooks/{created['id']}", headers=org.headers)
        assert assert_error(gone, 404) == "Webhook not found"


class TestTestEvent:
    async def test_sends_a_signed_webhook_test(self, client, org, receiver, sessionmaker):
        created = await create_webhook(client, org, receiver.url, ["conversation.closed"])
        response = await client.post(f"/webhooks/{created['id']}/test", headers=org.headers)
        assert response.status_code == 202, response.text
        [request] = await eventually(receiver.received, what="the test event")
        body = request.json
        assert body["event"] == "webhook.test" and body["organization_id"] == org.id
        assert body["data"]["webhook_id"] == created["id"]
        assert body["id"] == response.json()["event_id"] == request.event_id
        assert request.headers["x-deskpilot-event"] == "webhook.test"
        assert request.headers["user-agent"] == "deskpilot-webhooks/1"
        assert request.headers["content-type"] == "application/json"
        assert request.attempt == 1
        verify = readme_verify()
        assert verify(created["secret"], request.headers["x-deskpilot-signature"], request.body)
        assert not verify(
            "dp_whsec_" + "x" * 40, request.headers["x-deskpilot-signature"], request.body
        )

    async def test_is_refused_on_a_disabled_webhook(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url, enabled=False)
        response = await client.post(f"/webhooks/{created['id']}/test", headers=org.headers)
        assert_error(response, 409)


class TestRotateSecret:
    async def test_old_and_new_secrets_both_sign_during_the_overlap(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url)
        rotated = await client.post(f"/webhooks/{created['id']}/rotate-secret", headers=org.headers)
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("dp_whsec_") and new_secret != created["secret"]
        await client.post(f"/webhooks/{created['id']}/test", headers=org.headers)
        [request] = await eventually(receiver.received, what="the test event")
        header = request.headers["x-deskpilot-signature"]
        assert header.count("v1=") == 2
        verify = readme_verify()
        assert verify(new_secret, header, request.body)
        assert verify(created["secret"], header, request.body)


class TestDeliveryLog:
    async def test_lists_newest_first_with_cursor_and_status_filter(
        self, client, org, receiver, sessionmaker
    ):
        receiver.script = lambda request, count: (500 if count == 0 else 200, 0.0)
        created = await create_webhook(client, org, receiver.url)
        path = f"/webhooks/{created['id']}"
        for _ in range(3):
            await client.post(f"{path}/test", headers=org.headers)
        await eventually(lambda: all_settled(sessionmaker, created["id"], 3), what="deliveries")
        first = await client.get(f"{path}/deliveries?limit=2", headers=org.headers)
        assert first.status_code == 200, first.text
        page = first.json()
        assert len(page["items"]) == 2 and page["next"]
        rest = await client.get(
            f"{path}/deliveries", params={"limit": 2, "cursor": page["next"]}, headers=org.headers
        )
        items = page["items"] + rest.json()["items"]
        assert rest.json()["next"] is None and len({i["id"] for i in items}) == 3
        assert [i["created_at"] for i in items] == sorted(
            (i["created_at"] for i in items), reverse=True
        )
        item = items[0]
        assert set(item) >= {
            "id",
            "event_id",
            "event",
            "status",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "response_status",
            "response_time_ms",
            "error",
        }
        assert item["status"] == "succeeded" and item["response_status"] == 200
        assert item["next_attempt_at"] is None and item["response_time_ms"] >= 0
        retried = [i for i in items if i["attempts"] == 2]
        assert len(retried) == 1
        succeeded = await client.get(
            f"{path}/deliveries", params={"status": "failed"}, headers=org.headers
        )
        assert succeeded.json() == {"items": [], "next": None}


class TestRedeliver:
    async def test_sends_the_same_event_again_under_its_id(
        self, client, org, receiver, sessionmaker
    ):
        created = await create_webhook(client, org, receiver.url)
        path = f"/webhooks/{created['id']}"
        sent = (await client.post(f"{path}/test", headers=org.headers)).json()
        await eventually(receiver.received, what="the first delivery")
        again = await client.post(f"{path}/deliveries/{sent['id']}/redeliver", headers=org.headers)
        assert again.status_code == 202, again.text
        assert again.json()["id"] != sent["id"] and again.json()["event_id"] == sent["event_id"]
        first, second = await eventually(
            lambda: len(receiver.received()) == 2 and receiver.received(), what="redelivery"
        )
        assert first.event_id == second.event_id == sent["event_id"]
        assert first.body == second.body and second.attempt == 1

    async def test_unknown_delivery_is_404(self, client, org, receiver):
        created = await create_webhook(client, org, receiver.url)
        response = await client.post(
            f"/webhooks/{created['id']}/deliveries/{uuid.uuid4()}/redeliver", headers=org.headers
        )
        assert assert_error(response, 404) == "Delivery not found"


class TestTenancy:
    async def test_another_orgs_webhooks_and_deliveries_are_not_found(
        self, client, org, other_org, receiver, sessionmaker
    ):
        created = await create_webhook(client, org, receiver.url)
        path = f"/webhooks/{created['id']}"
        sent = (await client.post(f"{path}/test", headers=org.headers)).json()
        await eventually(lambda: all_settled(sessionmaker, created["id"], 1), what="delivery")
        other = other_org.headers
        assert (await client.get("/webhooks", headers=other)).json() == []
        for method, suffix in (
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("POST", "/rotate-secret"),
            ("POST", "/test"),
            ("GET", "/deliveries"),
            ("POST", f"/deliveries/{sent['id']}/redeliver"),
        ):
            response = await client.request(
                method, path + suffix, headers=other, json={} if method == "PATCH" else None
            )
            assert_error(response, 404)
        async with sessionmaker() as db:
            count = await db.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint))
        assert count == 1
        assert len(receiver.received()) == 1


class TestReceiverTimeouts:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {
            "WEBHOOKS_ALLOW_HTTP": True,
            "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True,
            "WEBHOOKS_TIMEOUT_SECONDS": 0.5,
            "WEBHOOKS_RETRY_SCHEDULE_SECONDS": [30.0],
        }

    async def test_a_receiver_slower_than_the_timeout_counts_as_a_failure(
        self, client, org, sessionmaker
    ):
        slow = Receiver(script=always(200, delay=2.0)).start()
        try:
            created = await create_webhook(client, org, slow.url)
            await client.post(f"/webhooks/{created['id']}/test", headers=org.headers)

            async def retrying() -> bool:
                found = await deliveries(sessionmaker, created["id"])
                return bool(found) and found[0].status == "retrying"

            await eventually(retrying, what="the timed-out attempt")
            [delivery] = await deliveries(sessionmaker, created["id"])
            assert delivery.error == "timed out after 0.5 s"
            assert delivery.response_status is None and delivery.attempts == 1
        finally:
            slow.stop()
