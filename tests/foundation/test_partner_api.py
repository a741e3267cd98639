"""Partner API: orgs, org keys, branding, ownership."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import make_org, make_partner


class TestCreateOrg:
    async def test_returns_the_documented_fields(self, client: httpx.AsyncClient, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/orgs",
            json={"name": "Bookshop", "external_id": "cust-1", "website": "https://books.example"},
            headers=partner.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "name", "widget_token", "external_id"}
        assert uuid.UUID(body["id"]).version == 4
        assert len(body["widget_token"]) == 32 and int(body["widget_token"], 16) >= 0
        assert body["external_id"] == "cust-1"

    async def test_defaults_language_to_en(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        body = (await client.get(f"/partner/v1/orgs/{org.id}", headers=partner.headers)).json()
        assert body["language"] == "en"
        assert body["health"] == "new"
        assert body["stats"] == {
            "users": 0,
            "sessions_30d": 0,
            "synced_pages": 0,
            "published_training": 0,
        }

    async def test_duplicate_external_id_is_a_conflict(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        await make_org(client, partner, external_id="cust-1")
        again = await client.post(
            "/partner/v1/orgs",
            json={"name": "Other", "external_id": "cust-1"},
            headers=partner.headers,
        )
        assert again.status_code == 409
        assert again.json() == {
            "statusCode": 409,
            "message": "An org with external_id 'cust-1' already exists",
            "error": "Conflict",
        }

    async def test_external_id_is_unique_per_partner_only(self, client, sessionmaker):
        first = await make_partner(sessionmaker, name="One")
        second = await make_partner(sessionmaker, name="Two")
        await make_org(client, first, external_id="cust-1")
        await make_org(client, second, external_id="cust-1")

    async def test_deleting_frees_the_external_id(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner, external_id="cust-1")
        assert (
            await client.delete(f"/partner/v1/orgs/{org.id}", headers=partner.headers)
        ).status_code == 204
        await make_org(client, partner, external_id="cust-1")

    async def test_unknown_integration_is_refused(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/orgs",
            json={"name": "Tours", "integrations": {"fareharbor": {"app_key": "x"}}},
            headers=partner.headers,
        )
        assert response.status_code == 400
        assert "fareharbor" in response.json()["message"]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "name is required"),
            ({"name": ""}, "name must not be empty"),
            ({"name": "x" * 201}, "name must be at most 200 characters"),
            ({"name": 12}, "name must be a string"),
            ({"name": "A", "language": "english"}, "language has an invalid format"),
            ({"name": "A", "website": "not a url"}, "website must be a valid URL"),
            (
                {"name": "A", "ai_instructions": "x" * 20001},
                "ai_instructions must be at most 20000 characters",
            ),
        ],
    )
    async def test_bad_fields_name_the_field(self, client, sessionmaker, body, message):
        partner = await make_partner(sessionmaker)
        response = await client.post("/partner/v1/orgs", json=body, headers=partner.headers)
        assert response.status_code == 400
        assert response.json() == {"statusCode": 400, "message": message, "error": "Bad Request"}

    async def test_unknown_fields_are_ignored(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/orgs", json={"name": "A", "plan": "enterprise"}, headers=partner.headers
        )
        assert response.status_code == 201


class TestListOrgs:
    async def test_pages_newest_first_without_gaps_or_repeats(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        created = [
            (
                await client.post(
                    "/partner/v1/orgs", json={"name": f"Org {i}"}, headers=partner.headers
                )
            ).json()["id"]
            for i in range(7)
        ]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = (
                await client.get("/partner/v1/orgs", params=params, headers=partner.headers)
            ).json()
            seen += [item["id"] for item in page["items"]]
            # An org created mid-way must not shift the pages already being walked.
            if cursor is None:
                await client.post(
                    "/partner/v1/orgs", json={"name": "Late"}, headers=partner.headers
                )
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == list(reversed(created))

    async def test_filters_by_external_id_and_name(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        await make_org(client, partner, name="Blue Books", external_id="b")
        await make_org(client, partner, name="Red Shoes", external_id="r")
        by_ext = (
            await client.get(
                "/partner/v1/orgs", params={"external_id": "r"}, headers=partner.headers
            )
        ).json()
        assert [o["name"] for o in by_ext["items"]] == ["Red Shoes"]
        by_name = (
            await client.get("/partner/v1/orgs", params={"q": "BOOK"}, headers=partner.headers)
        ).json()
        assert [o["name"] for o in by_name["items"]] == ["Blue Books"]
        by_health = (
            await client.get(
                "/partner/v1/orgs", params={"health": "healthy"}, headers=partner.headers
            )
        ).json()
        assert by_health == {"items": [], "next": None}

    async def test_a_health_filter_skips_no_match_between_pages(self, client, sessionmaker):
        """The second batch scanned holds two new orgs, the page has room for one: the
        next page starts after the one shown."""
        partner = await make_partner(sessionmaker)
        new = [(await make_org(client, partner, name=f"New {i}")).id for i in range(3)]
        busy = await make_org(client, partner, name="Busy")
        trained = await client.post(
            "/training",
            json={"title": "Refunds", "content": "Within 30 days."},
            headers=busy.headers,
        )
        assert trained.status_code == 201
        started = await client.post(
            "/chat/sessions", json={"channel": {"type": "web"}}, headers=busy.headers
        )
        assert started.status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            params = {"health": "new", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (
                await client.get("/partner/v1/orgs", params=params, headers=partner.headers)
            ).json()
            seen += [org["id"] for org in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == list(reversed(new))

    async def test_only_lists_the_callers_orgs(self, client, sessionmaker):
        mine = await make_partner(sessionmaker, name="Mine")
        theirs = await make_partner(sessionmaker, name="Theirs")
        await make_org(client, theirs, name="Not mine")
        body = (await client.get("/partner/v1/orgs", headers=mine.headers)).json()
        assert body == {"items": [], "next": None}

    async def test_bad_cursor_is_a_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.get(
            "/partner/v1/orgs", params={"cursor": "nope"}, headers=partner.headers
        )
        assert response.status_code == 400
        assert response.json()["message"] == "cursor is not valid"


class TestUpdateOrg:
    async def test_patch_changes_given_fields_and_null_clears(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(
            client, partner, website="https://a.example", ai_instructions="Be brief."
        )
        response = await client.patch(
            f"/partner/v1/orgs/{org.id}",
            json={"name": "Renamed", "ai_instructions": None},
            headers=partner.headers,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Renamed"
        assert body["ai_instructions"] is None
        assert body["website"] == "https://a.example/"

    async def test_name_cannot_be_cleared(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        response = await client.patch(
            f"/partner/v1/orgs/{org.id}", json={"name": None}, headers=partner.headers
        )
        assert response.status_code == 400

    async def test_external_id_clash_is_a_conflict(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        await make_org(client, partner, external_id="a")
        org = await make_org(client, partner, external_id="b")
        response = await client.patch(
            f"/partner/v1/orgs/{org.id}", json={"external_id": "a"}, headers=partner.headers
        )
        assert response.status_code == 409


class TestOrgKeys:
    async def test_secret_is_shown_once_and_listed_by_prefix(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        created = (
            await client.post(
                f"/partner/v1/orgs/{org.id}/api-keys", json={"name": "crm"}, headers=partner.headers
            )
        ).json()
        assert created["api_key"].startswith("dp_live_") and len(created["api_key"]) == 48
        assert created["prefix"] == created["api_key"][:12]
        listing = (
            await client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=partner.headers)
        ).json()
        assert {k["name"] for k in listing["items"]} == {"crm", "server"}
        assert all(
            "api_key" not in k and created["api_key"] not in str(k) for k in listing["items"]
        )
        crm = next(k for k in listing["items"] if k["name"] == "crm")
        assert crm["created_by"] == "partner" and crm["revoked_at"] is None

    async def test_revoked_key_fails_on_its_next_request(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        assert (await client.get("/org", headers=org.headers)).status_code == 200
        key_id = (
            await client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=partner.headers)
        ).json()["items"][0]["id"]
        revoke = await client.delete(
            f"/partner/v1/orgs/{org.id}/api-keys/{key_id}", headers=partner.headers
        )
        assert revoke.status_code == 204
        again = await client.delete(
            f"/partner/v1/orgs/{org.id}/api-keys/{key_id}", headers=partner.headers
        )
        assert again.status_code == 204
        refused = await client.get("/org", headers=org.headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "Unauthorized"
        listed = (
            await client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=partner.headers)
        ).json()
        assert listed["items"][0]["revoked_at"] is not None

    async def test_last_used_at_is_recorded(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        await client.get("/org", headers=org.headers)
        key = (
            await client.get(f"/partner/v1/orgs/{org.id}/api-keys", headers=partner.headers)
        ).json()["items"][0]
        assert key["last_used_at"] is not None

    async def test_a_26th_active_key_is_refused(self, client, sessionmaker, settings_overrides):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)  # its first key
        for i in range(24):
            await client.post(
                f"/partner/v1/orgs/{org.id}/api-keys",
                json={"name": f"k{i}"},
                headers=partner.headers,
            )
        response = await client.post(
            f"/partner/v1/orgs/{org.id}/api-keys",
            json={"name": "one too many"},
            headers=partner.headers,
        )
        assert response.status_code == 409

    @pytest.fixture
    def settings_overrides(self):
        return {"RATE_LIMIT_PARTNER_CREATE_KEY_PER_MINUTE": 1000}


class TestBranding:
    async def test_me_shows_and_patch_updates_branding(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        me = (await client.get("/partner/v1/me", headers=partner.headers)).json()
        assert me["branding"]["app_name"] == "Acme Help"
        response = await client.patch(
            "/partner/v1/me",
            json={
                "branding": {"logo_url": "https://cdn.acme.example/logo.svg", "app_name": None},
                "default_ai_instructions": "You are Acme's assistant.",
            },
            headers=partner.headers,
        )
        assert response.status_code == 200
        branding = response.json()["branding"]
        assert branding == {
            "logo_url": "https://cdn.acme.example/logo.svg",
            "app_name": None,
            "support_email": "help@acme.example",
            "primary_color": None,
        }

    async def test_logo_must_be_https(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.patch(
            "/partner/v1/me",
            json={"branding": {"logo_url": "http://cdn.acme.example/l.svg"}},
            headers=partner.headers,
        )
        assert response.status_code == 400
        assert response.json()["message"] == "branding.logo_url must be an https URL"

    async def test_org_api_shows_partner_branding(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        body = (await client.get("/org", headers=org.headers)).json()
        assert body["partner_branding"]["app_name"] == "Acme Help"
        alias = (await client.get("/copilot/current", headers=org.headers)).json()
        assert alias == body
