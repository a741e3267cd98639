"""Sliding-window rate limits, per process and shared through Redis."""

from __future__ import annotations

import uuid

import httpx
from asgi_lifespan import LifespanManager

from deskpilot.app import create_app
from tests.conftest import REDIS_URL, make_settings
from tests.factories import make_org, make_partner


class TestPartnerLimit:
    async def test_the_101st_request_in_a_minute_is_429(
        self, client: httpx.AsyncClient, sessionmaker
    ):
        partner = await make_partner(sessionmaker)
        for i in range(100):
            response = await client.get("/partner/v1/me", headers=partner.headers)
            assert response.status_code == 200, i
        assert response.headers["x-ratelimit-limit"] == "100"
        assert response.headers["x-ratelimit-remaining"] == "0"
        refused = await client.get("/partner/v1/me", headers=partner.headers)
        assert refused.status_code == 429
        assert refused.json()["error"] == "Too Many Requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"

    async def test_limits_are_per_partner(self, client, sessionmaker):
        busy = await make_partner(sessionmaker, name="Busy")
        calm = await make_partner(sessionmaker, name="Calm")
        for _ in range(101):
            await client.get("/partner/v1/me", headers=busy.headers)
        assert (await client.get("/partner/v1/me", headers=calm.headers)).status_code == 200

    async def test_org_creation_has_its_own_lower_limit(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        for i in range(20):
            ok = await client.post(
                "/partner/v1/orgs", json={"name": f"o{i}"}, headers=partner.headers
            )
            assert ok.status_code == 201
        assert ok.headers["x-ratelimit-limit"] == "20"
        refused = await client.post(
            "/partner/v1/orgs", json={"name": "o21"}, headers=partner.headers
        )
        assert refused.status_code == 429
        assert (await client.get("/partner/v1/me", headers=partner.headers)).status_code == 200


class TestOrgLimit:
    async def test_the_101st_org_request_is_429(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        for _ in range(100):
            assert (await client.get("/org", headers=org.headers)).status_code == 200
        assert (await client.get("/org", headers=org.headers)).status_code == 429


class TestSharedThroughRedis:
    async def test_two_processes_count_against_one_window(self, settings, sessionmaker):
        # Two app instances stand for two server processes; only Redis connects them.
        prefix = uuid.uuid4().hex
        shared = make_settings(
            settings.DATABASE_URL,
            settings.DATA_DIR,
            REDIS_URL=REDIS_URL,
            RATE_LIMIT_PARTNER_PER_MINUTE=10,
        )
        first, second = create_app(shared), create_app(shared)
        async with LifespanManager(first), LifespanManager(second):
            partner = await make_partner(first.state.deskpilot.sessionmaker, name=f"redis-{prefix}")
            clients = [
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
                for app in (first, second)
            ]
            statuses = [
                (await clients[i % 2].get("/partner/v1/me", headers=partner.headers)).status_code
                for i in range(11)
            ]
            for http in clients:
                await http.aclose()
        assert statuses == [200] * 10 + [429]
