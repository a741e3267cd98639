"""Login links: single use, 15 minutes, user created on first use, branded landing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.auth import service as auth_service
from deskpilot.models import DashboardSession, OrgMembership, User, utcnow
from tests.factories import make_login_link, make_org, make_partner


def session_cookie(response: httpx.Response) -> str | None:
    return response.cookies.get("dp_session")


class TestCreateLoginLink:
    async def test_returns_url_and_expiry_15_minutes_out(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        response = await client.post(
            f"/partner/v1/orgs/{org.id}/login-links",
            json={"email": "Ann@Shop.example"},
            headers=partner.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert body["url"].startswith("http://testserver/auth/login/")
        from datetime import datetime

        expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        assert timedelta(minutes=14) < expires - utcnow() <= timedelta(minutes=15)
        assert body["expires_at"].endswith("Z")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"email": "not-an-email"}, "email must be a valid email address"),
            (
                {"email": "a@b.example", "redirect_path": "https://evil.example/"},
                "redirect_path must be a dashboard path starting with /",
            ),
            (
                {"email": "a@b.example", "redirect_path": "//evil.example/"},
                "redirect_path must be a dashboard path starting with /",
            ),
        ],
    )
    async def test_bad_input_is_400(self, client, sessionmaker, body, message):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        response = await client.post(
            f"/partner/v1/orgs/{org.id}/login-links", json=body, headers=partner.headers
        )
        assert response.status_code == 400
        assert response.json()["message"] == message


class TestOpenLoginLink:
    async def test_sets_a_safe_cookie_and_lands_on_the_branded_home(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner, name="Corner Bookshop")
        response = await client.get(await make_login_link(client, org, name="Ann"))
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert "secure" not in set_cookie  # plain http here
        home = await client.get("/")
        assert home.status_code == 200
        assert "Acme Help" in home.text and "Corner Bookshop" in home.text
        assert "help@acme.example" in home.text
        assert "deskpilot" not in home.text.split("<body>", 1)[1].lower()

    async def test_cookie_is_secure_under_https(self, client, sessionmaker, settings_overrides):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        response = await client.get(await make_login_link(client, org))
        assert "secure" in response.headers["set-cookie"].lower()

    @pytest.fixture
    def settings_overrides(self, request):
        if request.node.name == "test_cookie_is_secure_under_https":
            return {"PUBLIC_URL": "https://support.example.com"}
        return {}

    async def test_creates_the_user_once_and_joins_the_org_as_admin(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        await client.get(await make_login_link(client, org, email="Ann@Shop.example", name="Ann"))
        await client.get(await make_login_link(client, org, email="ann@shop.example", name="Other"))
        async with sessionmaker() as session:
            users = (await session.scalars(sa.select(User))).all()
            assert [(u.email, u.name) for u in users] == [("ann@shop.example", "Ann")]
            roles = (await session.scalars(sa.select(OrgMembership.role))).all()
            assert roles == ["admin"]

    async def test_redirect_path_is_honoured(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        response = await client.get(await make_login_link(client, org, redirect_path="/inbox?x=1"))
        assert response.headers["location"] == "/inbox?x=1"

    async def test_second_use_is_refused_with_a_clear_page(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        assert (await client.get(link)).status_code == 303
        client.cookies.clear()
        again = await client.get(link, headers={"Accept": "text/html"})
        assert again.status_code == 410
        assert "already been used" in again.text and "text/html" in again.headers["content-type"]
        assert session_cookie(again) is None
        api = await client.get(link, headers={"Accept": "application/json"})
        assert api.status_code == 410 and api.json()["error"] == "Gone"

    async def test_unknown_link_is_refused(self, client):
        response = await client.get("/auth/login/not-a-real-token", headers={"Accept": "text/html"})
        assert response.status_code == 410 and session_cookie(response) is None

    async def test_link_used_after_15_minutes_is_refused(self, client, sessionmaker, monkeypatch):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        later = utcnow() + timedelta(minutes=15, seconds=1)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        response = await client.get(link)
        assert response.status_code == 410 and session_cookie(response) is None

    async def test_link_used_just_before_expiry_works(self, client, sessionmaker, monkeypatch):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        later = utcnow() + timedelta(minutes=14, seconds=50)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        assert (await client.get(link)).status_code == 303

    async def test_two_simultaneous_uses_give_exactly_one_session(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        link = await make_login_link(client, org)
        responses = await asyncio.gather(*(client.get(link) for _ in range(5)))
        assert sorted(r.status_code for r in responses) == [303, 410, 410, 410, 410]
        async with sessionmaker() as session:
            count = await session.scalar(sa.select(sa.func.count()).select_from(DashboardSession))
        assert count == 1


class TestDashboardSession:
    async def test_home_without_a_session_asks_to_sign_in(self, client):
        response = await client.get("/")
        assert response.status_code == 401 and "sign-in link" in response.text

    async def test_logout_needs_the_csrf_token(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        await client.get(await make_login_link(client, org))
        forged = await client.post("/auth/logout", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        assert (await client.get("/")).status_code == 200
        home = (await client.get("/")).text
        token = home.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        cookie = client.cookies["dp_session"]
        out = await client.post("/auth/logout", data={"csrf_token": token})
        assert out.status_code == 303
        client.cookies.clear()
        # The server ended the session: the old cookie no longer opens anything.
        replay = await client.get("/", headers={"Cookie": f"dp_session={cookie}"})
        assert replay.status_code == 401
