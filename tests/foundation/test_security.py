"""Partner security layers (API.md 2.1), key handling and tenancy."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import Base
from deskpilot.partner import service as partner_service
from tests.factories import make_login_link, make_org, make_partner


class TestPartnerAuthentication:
    @pytest.mark.parametrize(
        "header",
        [None, "Bearer", "Basic abc", "Bearer dp_partner_" + "x" * 40, "Bearer nonsense"],
    )
    async def test_missing_or_unknown_key_is_401(self, client: httpx.AsyncClient, header):
        headers = {"Authorization": header} if header else {}
        response = await client.get("/partner/v1/orgs", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"

    async def test_org_key_on_partner_api_is_401(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        assert (await client.get("/partner/v1/orgs", headers=org.headers)).status_code == 401

    async def test_partner_key_on_org_api_is_401(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        assert (await client.get("/org", headers=partner.headers)).status_code == 401

    async def test_inactive_partner_is_401(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        async with transaction(sessionmaker) as session:
            row = await partner_service.get_partner(
                session, partner_id=__import__("uuid").UUID(partner.id)
            )
            await partner_service.set_operator_fields(session, partner=row, is_active=False)
        response = await client.get("/partner/v1/me", headers=partner.headers)
        assert response.status_code == 401
        assert response.json()["message"] == "This partner account is inactive"

    async def test_rotated_key_is_revoked(self, client, sessionmaker):
        import uuid

        partner = await make_partner(sessionmaker)
        async with transaction(sessionmaker) as session:
            row = await partner_service.get_partner(session, partner_id=uuid.UUID(partner.id))
            new_key = await partner_service.rotate_partner_key(session, partner=row)
        assert (await client.get("/partner/v1/me", headers=partner.headers)).status_code == 401
        ok = await client.get("/partner/v1/me", headers={"Authorization": f"Bearer {new_key}"})
        assert ok.status_code == 200


class TestIpAllowList:
    async def test_address_outside_the_list_is_403(self, client, sessionmaker):
        partner = await make_partner(sessionmaker, allow_list=["198.51.100.0/24"])
        response = await client.get("/partner/v1/me", headers=partner.headers)
        assert response.status_code == 403
        assert response.json()["error"] == "Forbidden"

    async def test_address_inside_the_list_passes(self, client, sessionmaker):
        partner = await make_partner(sessionmaker, allow_list=["203.0.113.10"])
        assert (await client.get("/partner/v1/me", headers=partner.headers)).status_code == 200

    async def test_forwarded_for_is_ignored_from_an_untrusted_peer(self, client, sessionmaker):
        partner = await make_partner(sessionmaker, allow_list=["198.51.100.7"])
        response = await client.get(
            "/partner/v1/me", headers={**partner.headers, "X-Forwarded-For": "198.51.100.7"}
        )
        assert response.status_code == 403


class TestTrustedProxy:
    @pytest.fixture
    def settings_overrides(self):
        return {"TRUSTED_PROXIES": "203.0.113.0/24"}

    async def test_forwarded_for_is_read_behind_a_trusted_proxy(self, client, sessionmaker):
        partner = await make_partner(sessionmaker, allow_list=["198.51.100.7"])
        # Right to left: 203.0.113.5 is another trusted hop, 198.51.100.7 the client;
        # the spoofed left-most entry is never reached.
        response = await client.get(
            "/partner/v1/me",
            headers={**partner.headers, "X-Forwarded-For": "6.6.6.6, 198.51.100.7, 203.0.113.5"},
        )
        assert response.status_code == 200
        spoofed = await client.get(
            "/partner/v1/me",
            headers={**partner.headers, "X-Forwarded-For": "198.51.100.7, 6.6.6.6"},
        )
        assert spoofed.status_code == 403


class TestOwnership:
    async def test_another_partners_org_is_403_and_reveals_nothing(self, client, sessionmaker):
        owner = await make_partner(sessionmaker, name="Owner")
        intruder = await make_partner(sessionmaker, name="Intruder")
        org = await make_org(client, owner, name="Secret Shop")
        key_id = (
            await client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=owner.headers)
        ).json()["items"][0]["id"]
        attempts = [
            client.get(f"/partner/v1/orgs/{org.id}", headers=intruder.headers),
            client.patch(
                f"/partner/v1/orgs/{org.id}", json={"name": "Mine now"}, headers=intruder.headers
            ),
            client.delete(f"/partner/v1/orgs/{org.id}", headers=intruder.headers),
            client.post(
                f"/partner/v1/orgs/{org.id}/api-keys", json={"name": "x"}, headers=intruder.headers
            ),
            client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=intruder.headers),
            client.delete(f"/partner/v1/orgs/{org.id}/api-keys/{key_id}", headers=intruder.headers),
            client.post(
                f"/partner/v1/orgs/{org.id}/login-links",
                json={"email": "a@b.example"},
                headers=intruder.headers,
            ),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 403, response.request.url
            assert "Secret Shop" not in response.text and org.widget_token not in response.text
        after = (await client.get(f"/partner/v1/orgs/{org.id}", headers=owner.headers)).json()
        assert after["name"] == "Secret Shop"
        assert (await client.get("/org", headers=org.headers)).status_code == 200

    async def test_unknown_org_is_404(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.get(
            "/partner/v1/orgs/5b0c2ea4-9a57-4c1e-8d42-3f1f1d9b0e11", headers=partner.headers
        )
        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": "Org not found",
            "error": "Not Found",
        }

    async def test_org_key_only_reaches_its_own_org(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        first = await make_org(client, partner, name="First")
        second = await make_org(client, partner, name="Second")
        body = (await client.get("/org", headers=first.headers)).json()
        assert body["id"] == first.id and body["name"] == "First"
        changed = await client.patch(
            "/org", json={"ai_instructions": "Only First."}, headers=first.headers
        )
        assert changed.json()["ai_instructions"] == "Only First."
        other = (await client.get("/org", headers=second.headers)).json()
        assert other["id"] == second.id and other["ai_instructions"] is None


class TestDeletedOrg:
    async def test_everything_stops_at_once(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        assert (
            await client.delete(f"/partner/v1/orgs/{org.id}", headers=partner.headers)
        ).status_code == 204
        assert (await client.get("/org", headers=org.headers)).status_code == 401
        assert (
            await client.get(f"/partner/v1/orgs/{org.id}", headers=partner.headers)
        ).status_code == 404
        assert (await client.get(link)).status_code == 410
        listing = (await client.get("/partner/v1/orgs", headers=partner.headers)).json()
        assert listing["items"] == []

    async def test_open_dashboard_sessions_end(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner, name="Closing Shop")
        opened = await client.get(await make_login_link(client, org))
        cookie = opened.cookies["dp_session"]
        home = await client.get("/", headers={"Cookie": f"dp_session={cookie}"})
        assert "Closing Shop" in home.text
        await client.delete(f"/partner/v1/orgs/{org.id}", headers=partner.headers)
        home = await client.get("/", headers={"Cookie": f"dp_session={cookie}"})
        assert home.status_code == 401 and "Closing Shop" not in home.text


class TestSecretsAtRest:
    async def test_no_secret_appears_in_the_database(self, client, sessionmaker, settings):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        link_token = link.rsplit("/", 1)[1]
        opened = await client.get(link)
        session_token = opened.cookies["dp_session"]
        secrets = [partner.api_key, org.api_key, link_token, session_token]

        dump: list[str] = []
        async with sessionmaker() as session:
            for table in Base.metadata.sorted_tables:
                for row in (await session.execute(sa.select(table))).all():
                    dump.extend(str(value) for value in row)
        text = "\n".join(dump)
        for secret in secrets:
            assert secret not in text
            assert secret[12:] not in text  # not even past the display prefix
        if settings.is_sqlite:
            raw = b"".join(
                p.read_bytes()
                for p in Path(settings.database_url.split("///", 1)[1]).parent.glob("*.db*")
            )
            for secret in secrets:
                assert secret.encode() not in raw
