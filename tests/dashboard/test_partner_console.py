"""The partner console: console links (single use, 15 minutes, hashed), the console session
and its separation from org dashboard sessions, the partner's orgs with their health badges
and activity, filters, an org's page, and the jump into an org's dashboard as its admin."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.auth import service as auth_service
from deskpilot.dashboard import partner_console
from deskpilot.db import transaction
from deskpilot.models import (
    Datasource,
    LoginLink,
    Org,
    OrgMembership,
    Page,
    PartnerConsoleLink,
    PartnerConsoleSession,
    User,
    utcnow,
)
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import Branding
from tests.dashboard.conftest import Person, start_conversation
from tests.factories import OrgFixture, PartnerFixture, make_login_link, make_org, make_partner

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
ADMIN_EMAIL = "pat@acme.example"


async def console_link(
    client: httpx.AsyncClient,
    partner: PartnerFixture,
    email: str = ADMIN_EMAIL,
    name: str | None = "Pat",
) -> str:
    body = {"email": email, **({"name": name} if name else {})}
    response = await client.post("/partner/v1/console-links", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url.removeprefix("http://testserver")


OpenConsole = Callable[..., Awaitable[Person]]


@pytest.fixture
async def open_console(app: Any, client: httpx.AsyncClient) -> AsyncIterator[OpenConsole]:
    """A partner admin in a browser of their own, signed in to the console."""
    clients: list[httpx.AsyncClient] = []

    async def open_as(partner: PartnerFixture, email: str = ADMIN_EMAIL) -> Person:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 41000 + len(clients)))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(http)
        opened = await http.get(await console_link(client, partner, email))
        assert opened.status_code == 303, opened.text
        page = await http.get("/partner-console")
        assert page.status_code == 200, page.text
        found = _CSRF.search(page.text)
        assert found is not None
        return Person(http, found.group(1), email)

    yield open_as
    for http in clients:
        await http.aclose()


async def age_org(sessionmaker: Any, org: OrgFixture, days: int) -> None:
    async with transaction(sessionmaker) as db:
        await db.execute(
            sa.update(Org)
            .where(Org.id == uuid.UUID(org.id))
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def publish_training(client: httpx.AsyncClient, org: OrgFixture) -> None:
    body = {"title": "Refund policy", "content": "Refunds are possible within 30 days."}
    response = await client.post("/training", json=body, headers=org.headers)
    assert response.status_code == 201, response.text


async def synced_pages(sessionmaker: Any, org: OrgFixture, count: int) -> None:
    async with transaction(sessionmaker) as db:
        org_id = uuid.UUID(org.id)
        source = Datasource(org_id=org_id, url="https://shop.example/", display_name="shop")
        db.add(source)
        await db.flush()
        for i in range(count):
            db.add(
                Page(
                    org_id=org_id,
                    datasource_id=source.id,
                    url=f"https://shop.example/{i}",
                    status="synced",
                )
            )
        # A page that is not synced does not count.
        db.add(
            Page(
                org_id=org_id, datasource_id=source.id, url="https://shop.example/x", status="error"
            )
        )


def rows(html: str) -> dict[str, dict[str, str]]:
    """The console's org table: name → health and the four numbers."""
    table: dict[str, dict[str, str]] = {}
    for row in re.findall(r'<tr data-testid="org".*?</tr>', html, re.S):
        name = re.search(r'data-testid="org-name">([^<]+)<', row)
        assert name is not None
        cells = dict(re.findall(r'data-testid="org-(users|sessions|pages|training)">(\d+)<', row))
        health = re.search(r'data-health="([a-z_]+)"', row)
        assert health is not None
        table[name.group(1)] = {"health": health.group(1), **cells}
    return table


def org_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="org" data-org-id="([0-9a-f-]{36})"', html)


async def link_count(sessionmaker: Any) -> int:
    async with sessionmaker() as db:
        count: int = await db.scalar(sa.select(sa.func.count()).select_from(LoginLink))
        return count


# --- the Partner API endpoint ----------------------------------------------------------------


class TestCreateConsoleLink:
    async def test_returns_url_and_expiry_15_minutes_out(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/console-links",
            json={"email": "Pat@Acme.example", "name": "Pat"},
            headers=partner.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert body["url"].startswith("http://testserver/auth/console/")
        expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        assert timedelta(minutes=14) < expires - utcnow() <= timedelta(minutes=15)

    async def test_stores_only_a_hash_of_a_256_bit_token(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        token = (await console_link(client, partner)).rsplit("/", 1)[1]
        assert len(token) >= 43  # 32 random bytes, URL-safe base64
        async with sessionmaker() as db:
            link = (await db.scalars(sa.select(PartnerConsoleLink))).one()
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert link.email == ADMIN_EMAIL and link.partner_id == uuid.UUID(partner.id)

    async def test_bad_email_is_400(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/console-links", json={"email": "nope"}, headers=partner.headers
        )
        assert response.status_code == 400
        assert response.json()["message"] == "email must be a valid email address"

    async def test_needs_a_partner_key(self, client, org):
        body = {"email": ADMIN_EMAIL}
        assert (await client.post("/partner/v1/console-links", json=body)).status_code == 401
        with_org_key = await client.post(
            "/partner/v1/console-links", json=body, headers=org.headers
        )
        assert with_org_key.status_code == 401

    async def test_is_in_the_openapi_document(self, client):
        document = (await client.get("/api-json")).json()
        operation = document["paths"]["/partner/v1/console-links"]["post"]
        assert "201" in operation["responses"] and "429" in operation["responses"]


class TestConsoleLinkRateLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"RATE_LIMIT_PARTNER_CONSOLE_LINK_PER_MINUTE": 3}

    async def test_the_endpoint_has_its_own_limit(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        for _ in range(3):
            await console_link(client, partner)
        refused = await client.post(
            "/partner/v1/console-links", json={"email": ADMIN_EMAIL}, headers=partner.headers
        )
        assert refused.status_code == 429 and "retry-after" in refused.headers
        # Other endpoints still answer: the limit is the endpoint's, on top of the global one.
        assert (await client.get("/partner/v1/me", headers=partner.headers)).status_code == 200


# --- opening a console link --------------------------------------------------------------


class TestOpenConsoleLink:
    async def test_sets_a_console_cookie_and_lands_on_the_branded_console(
        self, client, sessionmaker
    ):
        partner = await make_partner(
            sessionmaker,
            name="Acme Platform",
            branding=Branding(
                app_name="Acme Help",
                support_email="help@acme.example",
                logo_url="https://cdn.acme.example/logo.svg",
            ),
        )
        response = await client.get(await console_link(client, partner))
        assert response.status_code == 303
        assert response.headers["location"] == "/partner-console"
        set_cookie = response.headers["set-cookie"].lower()
        assert set_cookie.startswith("dp_console=")
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert "path=/partner-console" in set_cookie
        assert "secure" not in set_cookie  # plain http here
        assert response.cookies.get("dp_session") is None
        page = await client.get("/partner-console")
        assert page.status_code == 200
        assert "<title>Organizations · Acme Help</title>" in page.text
        assert 'src="https://cdn.acme.example/logo.svg"' in page.text
        assert "help@acme.example" in page.text
        assert "Pat · Acme Platform" in page.text
        assert 'action="/partner-console/logout"' in page.text
        assert 'action="/auth/logout"' not in page.text  # not the org dashboard's header
        assert "deskpilot" not in page.text.split("<body>", 1)[1].lower()

    async def test_creates_the_user_once_and_joins_no_org(self, client, sessionmaker, org):
        await client.get(await console_link(client, org.partner, "Pat@Acme.example"))
        await client.get(await console_link(client, org.partner, ADMIN_EMAIL, name="Other"))
        async with sessionmaker() as db:
            users = (await db.scalars(sa.select(User))).all()
            assert [(u.email, u.name) for u in users] == [(ADMIN_EMAIL, "Pat")]
            assert (await db.scalars(sa.select(OrgMembership))).all() == []

    async def test_second_use_is_an_expired_page_and_410_for_other_clients(
        self, client, sessionmaker
    ):
        partner = await make_partner(sessionmaker)
        link = await console_link(client, partner)
        assert (await client.get(link)).status_code == 303
        client.cookies.clear()
        again = await client.get(link, headers={"Accept": "text/html"})
        assert again.status_code == 410
        assert "text/html" in again.headers["content-type"]
        assert "already been used" in again.text
        assert again.cookies.get("dp_console") is None
        api = await client.get(link, headers={"Accept": "application/json"})
        assert api.status_code == 410
        assert api.json() == {
            "statusCode": 410,
            "message": auth_service.LINK_UNUSABLE,
            "error": "Gone",
        }

    async def test_an_org_login_link_token_is_not_a_console_link(self, client, org):
        token = (await make_login_link(client, org)).rsplit("/", 1)[1]
        response = await client.get(f"/auth/console/{token}")
        assert response.status_code == 410 and response.cookies.get("dp_console") is None
        # ...and the org link was not spent by the attempt.
        assert (await client.get(f"/auth/login/{token}")).status_code == 303

    async def test_a_console_link_token_is_not_an_org_login_link(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        token = (await console_link(client, partner)).rsplit("/", 1)[1]
        response = await client.get(f"/auth/login/{token}")
        assert response.status_code == 410 and response.cookies.get("dp_session") is None
        assert (await client.get(f"/auth/console/{token}")).status_code == 303

    async def test_used_after_15_minutes_is_refused(self, client, sessionmaker, monkeypatch):
        partner = await make_partner(sessionmaker)
        link = await console_link(client, partner)
        later = utcnow() + timedelta(minutes=15, seconds=1)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        response = await client.get(link)
        assert response.status_code == 410 and response.cookies.get("dp_console") is None

    async def test_used_just_before_expiry_works(self, client, sessionmaker, monkeypatch):
        partner = await make_partner(sessionmaker)
        link = await console_link(client, partner)
        later = utcnow() + timedelta(minutes=14, seconds=50)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        assert (await client.get(link)).status_code == 303

    async def test_two_simultaneous_uses_give_exactly_one_session(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        link = await console_link(client, partner)
        responses = await asyncio.gather(*(client.get(link) for _ in range(5)))
        assert sorted(r.status_code for r in responses) == [303, 410, 410, 410, 410]
        async with sessionmaker() as db:
            count = await db.scalar(sa.select(sa.func.count()).select_from(PartnerConsoleSession))
        assert count == 1

    async def test_a_deactivated_partners_link_and_session_stop_working(
        self, client, sessionmaker, open_console
    ):
        partner = await make_partner(sessionmaker)
        pat = await open_console(partner)
        link = await console_link(client, partner, "kim@acme.example")
        async with transaction(sessionmaker) as db:
            record = await partner_service.get_partner(db, partner_id=uuid.UUID(partner.id))
            await partner_service.set_operator_fields(db, partner=record, is_active=False)
        assert (await client.get(link)).status_code == 410
        assert (await pat.get("/partner-console")).status_code == 401


class TestSecureCookie:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"PUBLIC_URL": "https://support.example.com"}

    async def test_the_cookie_is_secure_under_https(self, client, sessionmaker):
        partner = await make_partner(sessionmaker)
        response = await client.post(
            "/partner/v1/console-links", json={"email": ADMIN_EMAIL}, headers=partner.headers
        )
        url = response.json()["url"]
        assert url.startswith("https://support.example.com/auth/console/")
        opened = await client.get(url.removeprefix("https://support.example.com"))
        assert opened.status_code == 303
        assert "secure" in opened.headers["set-cookie"].lower()


# --- the console session -------------------------------------------------------------------


class TestConsoleSession:
    async def test_without_a_session_the_console_asks_to_sign_in(self, client):
        response = await client.get("/partner-console")
        assert response.status_code == 401
        assert "text/html" in response.headers["content-type"]
        assert "single-use sign-in link" in response.text

    async def test_an_expired_session_is_signed_out(self, sessionmaker, open_console, monkeypatch):
        pat = await open_console(await make_partner(sessionmaker))
        later = utcnow() + timedelta(hours=12, seconds=1)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        assert (await pat.get("/partner-console")).status_code == 401

    async def test_it_does_not_open_org_dashboard_pages(self, org, open_console):
        pat = await open_console(org.partner)
        token = pat.client.cookies["dp_console"]
        for path in ("/", "/inbox", "/team"):
            assert (await pat.get(path)).status_code == 401, path
            # Not even if the console's token is presented as a dashboard session.
            forged = await pat.get(path, headers={"Cookie": f"dp_session={token}"})
            assert forged.status_code == 401, path

    async def test_an_org_session_does_not_open_the_console(self, org, sign_in):
        ann = await sign_in(org)
        assert (await ann.get("/inbox")).status_code == 200
        assert (await ann.get("/partner-console")).status_code == 401
        token = ann.client.cookies["dp_session"]
        forged = await ann.get("/partner-console", headers={"Cookie": f"dp_console={token}"})
        assert forged.status_code == 401
        # The org session's CSRF token opens no console form either.
        jump = await ann.post(f"/partner-console/orgs/{org.id}/open")
        assert jump.status_code == 401

    async def test_sign_out_ends_the_session(self, sessionmaker, open_console):
        pat = await open_console(await make_partner(sessionmaker))
        token = pat.client.cookies["dp_console"]
        out = await pat.post("/partner-console/logout")
        assert out.status_code == 303 and out.headers["location"] == "/partner-console"
        assert (await pat.get("/partner-console")).status_code == 401
        # The server ended it: the old cookie opens nothing.
        replay = await pat.get("/partner-console", headers={"Cookie": f"dp_console={token}"})
        assert replay.status_code == 401

    async def test_sign_out_without_the_csrf_token_is_refused(self, sessionmaker, open_console):
        pat = await open_console(await make_partner(sessionmaker))
        assert (await pat.post("/partner-console/logout", csrf="")).status_code == 403
        assert (await pat.post("/partner-console/logout", csrf="forged")).status_code == 403
        assert (await pat.get("/partner-console")).status_code == 200


# --- the orgs -----------------------------------------------------------------------------


class TestOrgList:
    async def test_lists_this_partners_live_orgs_with_health_and_activity(
        self, client, sessionmaker, open_console, sign_in
    ):
        partner = await make_partner(sessionmaker)
        fresh = await make_org(client, partner, name="Fresh Bakery")
        await publish_training(client, fresh)  # still new: under 7 days, no session
        unset = await make_org(client, partner, name="Unset Garage")
        await age_org(sessionmaker, unset, days=10)
        await start_conversation(client, unset)  # a session, but nothing to answer from
        quiet = await make_org(client, partner, name="Quiet Books")
        await publish_training(client, quiet)
        await publish_training(client, quiet)
        await age_org(sessionmaker, quiet, days=40)
        busy = await make_org(client, partner, name="Busy Cafe")
        await synced_pages(sessionmaker, busy, 3)
        await start_conversation(client, busy)
        await start_conversation(client, busy)
        await sign_in(busy, "owner@busy.example", "Owner")
        await sign_in(busy, "staff@busy.example", "Staff")
        deleted = await make_org(client, partner, name="Deleted Deli")
        gone = await client.delete(f"/partner/v1/orgs/{deleted.id}", headers=partner.headers)
        assert gone.status_code == 204
        stranger = await make_partner(sessionmaker, name="Other Platform")
        await make_org(client, stranger, name="Stranger Shop")

        pat = await open_console(partner)
        page = await pat.get("/partner-console")
        assert page.status_code == 200
        assert rows(page.text) == {
            "Busy Cafe": {
                "health": "healthy",
                "users": "2",
                "sessions": "2",
                "pages": "3",
                "training": "0",
            },
            "Quiet Books": {
                "health": "inactive",
                "users": "0",
                "sessions": "0",
                "pages": "0",
                "training": "2",
            },
            "Unset Garage": {
                "health": "setup_incomplete",
                "users": "0",
                "sessions": "1",
                "pages": "0",
                "training": "0",
            },
            "Fresh Bakery": {
                "health": "new",
                "users": "0",
                "sessions": "0",
                "pages": "0",
                "training": "1",
            },
        }
        assert list(rows(page.text)) == ["Busy Cafe", "Fresh Bakery", "Unset Garage", "Quiet Books"]
        assert ">Setup incomplete<" in page.text and ">Healthy<" in page.text
        # The badges are the Partner API's, computed by the same code.
        api = await client.get(f"/partner/v1/orgs/{busy.id}", headers=partner.headers)
        assert api.json()["health"] == "healthy" and api.json()["stats"]["users"] == 2

    async def test_filters_by_health(self, client, sessionmaker, open_console):
        partner = await make_partner(sessionmaker)
        await make_org(client, partner, name="Brand New")
        old = await make_org(client, partner, name="Old Empty")
        await age_org(sessionmaker, old, days=10)
        pat = await open_console(partner)
        setup = await pat.get("/partner-console", params={"health": "setup_incomplete"})
        assert list(rows(setup.text)) == ["Old Empty"]
        assert 'href="/partner-console?health=setup_incomplete" aria-current="page"' in setup.text
        new = await pat.get("/partner-console", params={"health": "new"})
        assert list(rows(new.text)) == ["Brand New"]
        none = await pat.get("/partner-console", params={"health": "healthy"})
        assert rows(none.text) == {} and 'data-testid="no-orgs"' in none.text

    async def test_unknown_health_is_400(self, sessionmaker, open_console):
        pat = await open_console(await make_partner(sessionmaker))
        response = await pat.get("/partner-console", params={"health": "great"})
        assert response.status_code == 400 and "health must be one of" in response.text

    async def test_searches_by_name(self, client, sessionmaker, open_console):
        partner = await make_partner(sessionmaker)
        for name in ("Corner Bookshop", "Bookish Cafe", "Garden Centre", "100%_Pure"):
            await make_org(client, partner, name=name)
        pat = await open_console(partner)
        found = await pat.get("/partner-console", params={"q": "BOOK"})
        assert sorted(rows(found.text)) == ["Bookish Cafe", "Corner Bookshop"]
        assert 'value="BOOK"' in found.text
        literal = await pat.get("/partner-console", params={"q": "%_"})
        assert list(rows(literal.text)) == ["100%_Pure"]
        both = await pat.get("/partner-console", params={"q": "cafe", "health": "new"})
        assert list(rows(both.text)) == ["Bookish Cafe"]

    async def test_pages_through_the_orgs(self, client, sessionmaker, open_console, monkeypatch):
        monkeypatch.setattr(partner_console, "ORGS_PER_SCREEN", 2)
        partner = await make_partner(sessionmaker)
        created = [(await make_org(client, partner, name=f"Org {i}")).id for i in range(5)]
        pat = await open_console(partner)
        seen: list[str] = []
        path: str | None = "/partner-console"
        while path:
            page = await pat.get(path)
            seen += org_ids(page.text)
            more = re.search(r'href="([^"]+)" data-testid="orgs-next"', page.text)
            path = more.group(1).replace("&amp;", "&") if more else None
        assert seen == list(reversed(created))

    async def test_a_health_filter_pages_through_every_match(
        self, client, sessionmaker, open_console, monkeypatch
    ):
        """A batch can hold more matches than the page has room for: the next page starts
        after the last org shown, so none is skipped."""
        monkeypatch.setattr(partner_console, "ORGS_PER_SCREEN", 2)
        partner = await make_partner(sessionmaker)
        new = [(await make_org(client, partner, name=f"New {i}")).id for i in range(3)]
        busy = await make_org(client, partner, name="Busy")  # the newest, and not new
        await publish_training(client, busy)
        await start_conversation(client, busy)
        pat = await open_console(partner)
        seen: list[str] = []
        path: str | None = "/partner-console?health=new"
        while path:
            page = await pat.get(path)
            seen += org_ids(page.text)
            more = re.search(r'href="([^"]+)" data-testid="orgs-next"', page.text)
            path = more.group(1).replace("&amp;", "&") if more else None
        assert seen == list(reversed(new))

    async def test_names_are_escaped(self, client, sessionmaker, open_console):
        partner = await make_partner(sessionmaker)
        await make_org(client, partner, name="<script>alert(1)</script>")
        page = await (await open_console(partner)).get("/partner-console")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


class TestOrgPage:
    async def test_shows_the_orgs_members_and_activity(
        self, client, sessionmaker, open_console, sign_in
    ):
        org = await make_org(
            client, await make_partner(sessionmaker), name="Corner Bookshop", external_id="c-42"
        )
        await sign_in(org, "owner@shop.example", "Olive Owner")
        await sign_in(org, "agent@shop.example", "Arnold Agent")
        await start_conversation(client, org)
        pat = await open_console(org.partner)
        page = await pat.get(f"/partner-console/orgs/{org.id}")
        assert page.status_code == 200
        assert "<title>Corner Bookshop · Acme Help</title>" in page.text
        assert "c-42" in page.text and 'data-health="setup_incomplete"' in page.text
        members = re.findall(
            r"<tr data-testid=\"member\"><td>([^<]+)</td><td>([^<]+)</td>"
            r"<td>([^<]+)</td>",
            page.text,
        )
        assert members == [
            ("Arnold Agent", "agent@shop.example", "agent"),
            ("Olive Owner", "owner@shop.example", "admin"),
        ]
        assert "<strong>2</strong> users" in page.text
        assert "<strong>1</strong> sessions in 30 days" in page.text

    async def test_another_partners_org_is_404(self, client, sessionmaker, open_console):
        mine = await make_partner(sessionmaker)
        theirs = await make_org(client, await make_partner(sessionmaker, name="Other"))
        pat = await open_console(mine)
        response = await pat.get(f"/partner-console/orgs/{theirs.id}")
        assert response.status_code == 404 and "Org not found" in response.text

    @pytest.mark.parametrize("org_id", [str(uuid.uuid4()), "not-a-uuid"])
    async def test_unknown_org_is_404(self, sessionmaker, open_console, org_id):
        pat = await open_console(await make_partner(sessionmaker))
        assert (await pat.get(f"/partner-console/orgs/{org_id}")).status_code == 404

    async def test_a_deleted_org_is_404(self, client, org, open_console):
        pat = await open_console(org.partner)
        assert (await pat.get(f"/partner-console/orgs/{org.id}")).status_code == 200
        await client.delete(f"/partner/v1/orgs/{org.id}", headers=org.partner.headers)
        assert (await pat.get(f"/partner-console/orgs/{org.id}")).status_code == 404
        assert org.id not in (await pat.get("/partner-console")).text


# --- the jump into an org ------------------------------------------------------------------


class TestOpenOrg:
    async def test_lands_in_the_orgs_dashboard_as_admin(
        self, client, org, sessionmaker, open_console, sign_in
    ):
        # The org already has its admin: anyone joining by an ordinary link is an agent.
        await sign_in(org, "owner@shop.example", "Olive Owner")
        pat = await open_console(org.partner)
        jump = await pat.post(f"/partner-console/orgs/{org.id}/open")
        assert jump.status_code == 303
        assert jump.headers["location"].startswith("/auth/login/")
        landed = await pat.get(jump.headers["location"])
        assert landed.status_code == 303 and landed.headers["location"] == "/inbox"
        inbox = await pat.get("/inbox")
        assert inbox.status_code == 200
        assert "Pat · admin" in inbox.text and "Bookshop" in inbox.text
        assert (await pat.get("/team")).status_code == 200  # an admin-only page
        async with sessionmaker() as db:
            role = await db.scalar(
                sa.select(OrgMembership.role)
                .join(User, User.id == OrgMembership.user_id)
                .where(User.email == ADMIN_EMAIL)
            )
        assert role == "admin"
        # The jump's link is single use like any other.
        assert (await pat.get(jump.headers["location"])).status_code == 410
        # The console is still open beside the org's dashboard.
        assert (await pat.get("/partner-console")).status_code == 200

    async def test_an_agent_member_is_made_admin(self, client, org, open_console, sign_in):
        await sign_in(org, "owner@shop.example", "Olive Owner")
        before = await sign_in(org, ADMIN_EMAIL, "Pat")
        assert "Pat · agent" in (await before.get("/inbox")).text
        pat = await open_console(org.partner)
        jump = await pat.post(f"/partner-console/orgs/{org.id}/open")
        await pat.get(jump.headers["location"])
        assert "Pat · admin" in (await pat.get("/inbox")).text

    async def test_without_the_csrf_token_is_refused(self, org, sessionmaker, open_console):
        pat = await open_console(org.partner)
        for token in ("", "forged"):
            refused = await pat.post(f"/partner-console/orgs/{org.id}/open", csrf=token)
            assert refused.status_code == 403
            assert "This form has expired" in refused.text
        assert await link_count(sessionmaker) == 0
        assert (await pat.get("/inbox")).status_code == 401

    async def test_another_partners_org_is_404(self, client, sessionmaker, open_console):
        mine = await make_partner(sessionmaker)
        theirs = await make_org(client, await make_partner(sessionmaker, name="Other"))
        pat = await open_console(mine)
        response = await pat.post(f"/partner-console/orgs/{theirs.id}/open")
        assert response.status_code == 404
        assert await link_count(sessionmaker) == 0

    async def test_a_deleted_org_is_404(self, client, org, sessionmaker, open_console):
        pat = await open_console(org.partner)
        await client.delete(f"/partner/v1/orgs/{org.id}", headers=org.partner.headers)
        assert (await pat.post(f"/partner-console/orgs/{org.id}/open")).status_code == 404
        assert await link_count(sessionmaker) == 0
