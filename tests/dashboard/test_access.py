"""Who gets into the dashboard and what they may do: sessions and their expiry, roles,
CSRF on every state-changing request, the partner's branding, a strict CSP, escaping."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.auth import service as auth_service
from deskpilot.dashboard.access import PageRoute
from deskpilot.models import ChatSession, OrgMembership, Partner, utcnow
from deskpilot.partner.schemas import Branding
from tests.dashboard.conftest import session_json, start_conversation
from tests.factories import make_org, make_partner

PAGES = ["/", "/inbox", "/console", "/team", f"/inbox/{uuid.uuid4()}"]


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, through the routers that include others."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else (route,)


class TestSignedOut:
    @pytest.mark.parametrize("path", PAGES)
    async def test_every_page_asks_to_sign_in(self, client, path):
        response = await client.get(path)
        assert response.status_code == 401
        assert "text/html" in response.headers["content-type"]
        assert "sign-in link" in response.text

    async def test_the_live_feed_is_refused(self, client):
        assert (await client.get("/inbox/stream")).status_code == 401

    async def test_an_htmx_request_gets_the_message_as_text(self, client):
        response = await client.get("/inbox/list", headers={"HX-Request": "true"})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/plain")

    async def test_an_expired_session_is_signed_out(self, org, sign_in, monkeypatch):
        ann = await sign_in(org)
        assert (await ann.get("/inbox")).status_code == 200
        later = utcnow() + timedelta(hours=12, seconds=1)
        monkeypatch.setattr(auth_service, "utcnow", lambda: later)
        response = await ann.get("/inbox")
        assert response.status_code == 401 and "sign-in link" in response.text


class TestRoles:
    async def test_the_first_member_is_admin_and_later_ones_agents(
        self, org, sign_in, sessionmaker
    ):
        admin = await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        assert "First · admin" in (await admin.get("/inbox")).text
        assert "Second · agent" in (await agent.get("/inbox")).text
        async with sessionmaker() as db:
            roles = dict(
                (await db.execute(sa.select(OrgMembership.user_id, OrgMembership.role)))
                .tuples()
                .all()
            )
        assert sorted(roles.values()) == ["admin", "agent"]

    async def test_agents_work_the_inbox_but_admin_pages_refuse_them(self, client, org, sign_in):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        session_id = await start_conversation(client, org)
        assert (await agent.get("/inbox")).status_code == 200
        assert (await agent.get(f"/inbox/{session_id}")).status_code == 200
        assert (await agent.post(f"/inbox/{session_id}/takeover")).status_code == 303
        team = await agent.get("/team")
        assert team.status_code == 403 and "Only an admin" in team.text
        assert 'href="/team"' not in (await agent.get("/inbox")).text

    async def test_an_admin_changes_another_members_role_but_not_their_own(
        self, org, sign_in, sessionmaker
    ):
        admin = await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        async with sessionmaker() as db:
            ids = dict(
                (await db.execute(sa.select(OrgMembership.role, OrgMembership.user_id)))
                .tuples()
                .all()
            )
        page = await admin.get("/team")
        assert page.status_code == 200 and "second@shop.example" in page.text
        promoted = await admin.post(f"/team/{ids['agent']}/role", {"role": "admin"})
        assert promoted.status_code == 303
        assert (await agent.get("/team")).status_code == 200
        itself = await admin.post(f"/team/{ids['admin']}/role", {"role": "agent"})
        assert itself.status_code == 409
        forged = await agent.post(f"/team/{ids['admin']}/role", {"role": "agent"}, csrf="")
        assert forged.status_code == 403

    async def test_an_agent_cannot_change_roles(self, org, sign_in, sessionmaker):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        async with sessionmaker() as db:
            admin_id = await db.scalar(
                sa.select(OrgMembership.user_id).where(OrgMembership.role == "admin")
            )
        response = await agent.post(f"/team/{admin_id}/role", {"role": "agent"})
        assert response.status_code == 403


class TestCsrf:
    ACTIONS = [
        ("takeover", {}),
        ("resolve", {}),
        ("handback", {}),
        ("messages", {"text": "Hello", "kind": "reply"}),
        ("messages", {"text": "Psst", "kind": "note"}),
        ("tags", {"add": "billing"}),
        ("assign", {"assignee_id": ""}),
    ]

    @pytest.mark.parametrize(("action", "form"), ACTIONS)
    async def test_every_action_without_the_token_is_refused_and_changes_nothing(
        self, client, org, sign_in, action, form
    ):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        before = await session_json(client, org, session_id)
        for token in ("", "forged"):
            response = await ann.post(f"/inbox/{session_id}/{action}", form, csrf=token)
            assert response.status_code == 403, action
            assert "Request refused" in response.text
        assert await session_json(client, org, session_id) == before

    async def test_every_dashboard_post_route_checks_the_token(self, app, org, sign_in):
        """Every state-changing dashboard route there is, found in the app's routes (so a
        new page cannot forget its CSRF check): refused without the token or with a forged
        one, before it looks at its ids or its form."""
        ann = await sign_in(org)
        checked = []
        for route in _routes(app.routes):
            if not isinstance(route, PageRoute) or "POST" not in route.methods:
                continue
            if route.path.startswith(("/auth/", "/partner-console")):
                continue  # sign-in and the partner console's own session: their own tests
            path = route.path
            for param in route.dependant.path_params:
                value = "1" if param.field_info.annotation is int else str(uuid.uuid4())
                path = path.replace("{" + param.name + "}", value)
            for token in ("", "forged"):
                response = await ann.post(path, {"text": "x"}, csrf=token)
                assert response.status_code == 403, (route.path, response.status_code)
            checked.append(route.path)
        assert len(checked) >= 30, checked

    async def test_the_token_of_another_session_is_refused(self, client, org, sign_in):
        ann = await sign_in(org, "ann@shop.example")
        bob = await sign_in(org, "bob@shop.example")
        session_id = await start_conversation(client, org)
        response = await ann.post(f"/inbox/{session_id}/resolve", csrf=bob.csrf)
        assert response.status_code == 403
        assert (await session_json(client, org, session_id))["status"] == "open"

    async def test_the_header_carries_the_token_for_htmx(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        response = await ann.client.post(
            f"/inbox/{session_id}/resolve",
            headers={"HX-Request": "true", "X-CSRF-Token": ann.csrf},
        )
        assert response.status_code == 200
        assert (await session_json(client, org, session_id))["status"] == "closed_resolved"

    async def test_the_console_needs_the_token(self, org, sign_in, sessionmaker):
        ann = await sign_in(org)
        response = await ann.post("/console", {"question": "Hi", "channel": "web"}, csrf="")
        assert response.status_code == 403

    async def test_a_signed_out_session_token_no_longer_works(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        assert (await ann.post("/auth/logout")).status_code == 303
        response = await ann.post(f"/inbox/{session_id}/resolve")
        assert response.status_code == 401


class TestBranding:
    async def test_the_partners_name_logo_email_and_colour_on_every_page(
        self, client, sessionmaker, sign_in
    ):
        partner = await make_partner(
            sessionmaker,
            branding=Branding(
                app_name="Acme Help",
                support_email="help@acme.example",
                logo_url="https://cdn.acme.example/logo.png",
                primary_color="#ff6600",
            ),
        )
        org = await make_org(client, partner, name="Corner Bookshop")
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        for path in ["/", "/inbox", f"/inbox/{session_id}", "/console", "/team"]:
            page = await ann.get(path)
            assert page.status_code == 200, path
            body = page.text
            assert "Acme Help" in body and "help@acme.example" in body, path
            assert 'src="https://cdn.acme.example/logo.png"' in body, path
            nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
            assert nonce is not None
            assert f'<style nonce="{nonce.group(1)}">:root {{ --accent: #ff6600; }}</style>' in body
            assert "deskpilot" not in body.split("<body>", 1)[1].lower(), path

    async def test_errors_keep_the_branding(self, client, sessionmaker, sign_in):
        partner = await make_partner(sessionmaker, branding=Branding(app_name="Acme Help"))
        org = await make_org(client, partner)
        ann = await sign_in(org)
        missing = await ann.get(f"/inbox/{uuid.uuid4()}")
        assert missing.status_code == 404 and "Acme Help" in missing.text

    async def test_a_colour_that_is_not_hex_never_reaches_the_style(
        self, client, sessionmaker, sign_in
    ):
        partner = await make_partner(sessionmaker)
        org = await make_org(client, partner)
        async with sessionmaker() as db:
            row = await db.get(Partner, uuid.UUID(partner.id))
            row.primary_color = "}body{"  # the column holds 7 characters
            await db.commit()
        ann = await sign_in(org)
        page = await ann.get("/inbox")
        assert "}body{" not in page.text and "--accent" not in page.text

    async def test_pages_send_a_strict_policy(self, org, sign_in):
        ann = await sign_in(org)
        page = await ann.get("/inbox")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert page.headers["cache-control"] == "no-store"


class TestEscaping:
    async def test_contact_and_message_text_are_escaped(self, client, org, sign_in):
        ann = await sign_in(org)
        markup = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
        session_id = await start_conversation(client, org, name="<b>Eve</b>", text=markup)
        for path in ["/inbox", f"/inbox/{session_id}"]:
            body = (await ann.get(path)).text
            assert "<script>alert(2)" not in body and "<img src=x" not in body
            assert "<b>Eve</b>" not in body and "&lt;b&gt;Eve&lt;/b&gt;" in body
        note = await ann.post(f"/inbox/{session_id}/messages", {"text": markup, "kind": "note"})
        assert note.status_code == 303
        body = (await ann.get(f"/inbox/{session_id}")).text
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body


class TestIsolation:
    async def test_a_conversation_of_another_org_is_404_everywhere(
        self, client, org, other_org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        theirs = await start_conversation(client, other_org, name="Their Contact")
        assert (await ann.get(f"/inbox/{theirs}")).status_code == 404
        assert (await ann.get(f"/inbox/{theirs}/live")).status_code == 404
        for action, form in [*TestCsrf.ACTIONS, ("reopen", {})]:
            response = await ann.post(f"/inbox/{theirs}/{action}", form)
            assert response.status_code == 404, action
        assert "Their Contact" not in (await ann.get("/inbox?view=all")).text
        async with sessionmaker() as db:
            session = await db.get(ChatSession, uuid.UUID(theirs))
            assert session.status == "open" and session.assignee_id is None

    async def test_a_malformed_id_is_404(self, org, sign_in):
        ann = await sign_in(org)
        assert (await ann.get("/inbox/not-a-uuid")).status_code == 404
