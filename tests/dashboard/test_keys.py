"""API key pages: an admin creates a key (its secret shown once, on the answer to the form,
never again) and revokes one; the Partner API lists what they did; the 26th active key is
refused; agents and other orgs are kept out."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("no_ai")

SECRET = re.compile(r"dp_live_[0-9A-Za-z]{40}")


async def partner_keys(client, org) -> list[dict[str, Any]]:
    response = await client.get(
        f"/partner/v1/orgs/{org.id}/api-keys", params={"limit": 100}, headers=org.partner.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def key_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-testid="key" data-key-id="([0-9a-f-]{36})" data-state="(\w+)"', html)


class TestCreate:
    async def test_the_secret_is_shown_exactly_once_and_works(self, client, org, sign_in):
        admin = await sign_in(org)
        created = await admin.post("/settings/api-keys", {"name": "CRM sync"})
        assert created.status_code == 200
        secrets = SECRET.findall(created.text)
        assert len(secrets) == 1, secrets
        [secret] = secrets
        assert "shown only this once" in created.text
        # It is a working org key.
        used = await client.get("/org", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 200 and used.json()["id"] == org.id
        # The partner sees it, made by the dashboard, and only its prefix.
        [key] = [k for k in await partner_keys(client, org) if k["name"] == "CRM sync"]
        assert key["created_by"] == "dashboard" and secret.startswith(key["prefix"])
        # Never again: not on the list, not on any later page.
        listing = await admin.get("/settings/api-keys")
        assert secret not in listing.text and SECRET.search(listing.text) is None
        assert f"{key['prefix']}…" in listing.text
        assert (key["id"], "active") in key_rows(listing.text)
        assert created.headers["cache-control"] == "no-store"

    @pytest.mark.parametrize(
        ("name", "message"),
        [("", "name must not be empty"), ("x" * 101, "name must be at most 100 characters")],
    )
    async def test_a_bad_name_is_refused(self, client, org, sign_in, name, message):
        admin = await sign_in(org)
        before = len(await partner_keys(client, org))
        response = await admin.post("/settings/api-keys", {"name": name})
        assert response.status_code == 400 and message in response.text
        assert SECRET.search(response.text) is None
        assert len(await partner_keys(client, org)) == before

    async def test_the_26th_active_key_is_refused_clearly(self, client, org, sign_in):
        admin = await sign_in(org)
        active = len([k for k in await partner_keys(client, org) if k["revoked_at"] is None])
        for i in range(25 - active):
            assert (await admin.post("/settings/api-keys", {"name": f"k{i}"})).status_code == 200
        refused = await admin.post("/settings/api-keys", {"name": "one too many"})
        assert refused.status_code == 409
        assert "at most 25 active API keys" in refused.text and "revoke one" in refused.text
        assert SECRET.search(refused.text) is None
        assert all(k["name"] != "one too many" for k in await partner_keys(client, org))
        # Revoking one makes room again.
        key_id = next(k["id"] for k in await partner_keys(client, org) if k["name"] == "k0")
        assert (await admin.post(f"/settings/api-keys/{key_id}/revoke")).status_code == 303
        assert (await admin.post("/settings/api-keys", {"name": "fits now"})).status_code == 200


class TestRevoke:
    async def test_a_revoked_key_stops_working_at_once(self, client, org, sign_in):
        admin = await sign_in(org)
        created = await admin.post("/settings/api-keys", {"name": "Temporary"})
        secret = SECRET.findall(created.text)[0]
        key_id = next(k["id"] for k in await partner_keys(client, org) if k["name"] == "Temporary")
        revoked = await admin.post(f"/settings/api-keys/{key_id}/revoke")
        assert revoked.status_code == 303 and revoked.headers["location"] == "/settings/api-keys"
        used = await client.get("/org", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 401
        [key] = [k for k in await partner_keys(client, org) if k["id"] == key_id]
        assert key["revoked_at"] is not None
        listing = await admin.get("/settings/api-keys")
        assert (key_id, "revoked") in key_rows(listing.text)
        # The partner-made key the org was created with is listed too, and still works.
        assert (await client.get("/org", headers=org.headers)).status_code == 200
        assert "your provider" in listing.text


class TestAccess:
    async def test_agents_are_refused(self, client, org, sign_in):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        before = await partner_keys(client, org)
        page = await agent.get("/settings/api-keys")
        assert page.status_code == 403 and "Only an admin" in page.text
        created = await agent.post("/settings/api-keys", {"name": "sneaky"})
        assert created.status_code == 403 and SECRET.search(created.text) is None
        revoked = await agent.post(f"/settings/api-keys/{before[0]['id']}/revoke")
        assert revoked.status_code == 403
        assert await partner_keys(client, org) == before
        assert 'href="/settings/api-keys"' not in (await agent.get("/inbox")).text

    async def test_a_form_without_the_csrf_token_is_refused(self, client, org, sign_in):
        admin = await sign_in(org)
        before = await partner_keys(client, org)
        response = await admin.post("/settings/api-keys", {"name": "no token"}, csrf="")
        assert response.status_code == 403 and SECRET.search(response.text) is None
        assert await partner_keys(client, org) == before

    async def test_another_orgs_key_is_not_found(self, client, org, other_org, sign_in):
        admin = await sign_in(org)
        [theirs] = await partner_keys(client, other_org)
        response = await admin.post(f"/settings/api-keys/{theirs['id']}/revoke")
        assert response.status_code == 404 and "API key not found" in response.text
        assert (await client.get("/org", headers=other_org.headers)).status_code == 200
        assert theirs["id"] not in (await admin.get("/settings/api-keys")).text
        malformed = await admin.post("/settings/api-keys/not-a-uuid/revoke")
        assert malformed.status_code == 404
