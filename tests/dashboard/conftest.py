"""Dashboard tests without a browser: staff signed in through real login links (one client,
so one cookie jar, per person), conversations made through the Org API, AI replies stored
through the conversations service. No AI turn runs unless a test asks for one."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deskpilot import tasks as registry
from deskpilot.conversations import service as conversations
from deskpilot.db import transaction

# The browser tests' fixtures (each browser test module opens its own `deployment`).
from tests.dashboard._browser import browser, context, page, problems  # noqa: F401
from tests.factories import OrgFixture, make_login_link

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')

DEBUG_RECORD: dict[str, Any] = {
    "channel": "web",
    "responder": "offline",
    "autopilot_mode": "autopilot",
    "understanding": {"language": "en", "question": "How long does delivery take?"},
    "knowledge": [
        {
            "chunk_id": "chunk-1",
            "url": "https://shop.example/help/shipping",
            "title": "Shipping and delivery",
            "heading": "Delivery times",
            "score": 0.8123,
            "dense": 0.7,
            "lexical": 0.9,
        },
        {
            "chunk_id": "chunk-2",
            "url": "javascript:alert(1)",
            "title": "Hostile link",
            "heading": None,
            "score": 0.2,
            "dense": 0.1,
            "lexical": 0.3,
        },
    ],
    "scenarios": [{"id": "s-1", "title": "Express shipping", "score": 0.51}],
    "instructions": [{"id": "i-1", "title": "Tone of voice", "version": 3}],
    "confidence": 0.87,
    "passages_used": ["chunk-1"],
    "decision": "answer",
    "timings_ms": {"gate": 1.5, "understand": 2.0, "retrieve": 10.25, "total": 14.0},
}


@pytest.fixture(autouse=True)
def no_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contact messages stay pending: what the inbox shows is only what the test made."""
    monkeypatch.delitem(registry.TASKS, conversations.AGENT_TURN, raising=False)


@dataclass
class Person:
    """One dashboard user in one browser (its own cookie jar)."""

    client: httpx.AsyncClient
    csrf: str
    name: str

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        csrf: str | None = None,
        htmx: bool = False,
    ) -> httpx.Response:
        """A form post with the page's CSRF token (or `csrf` instead, "" for none)."""
        token = self.csrf if csrf is None else csrf
        form = dict(data or {})
        if token:
            form["csrf_token"] = token
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.client.post(path, data=form, headers=headers)


SignIn = Callable[..., Awaitable[Person]]


@pytest.fixture
async def sign_in(app: Any) -> AsyncIterator[SignIn]:
    clients: list[httpx.AsyncClient] = []

    async def open_as(
        org: OrgFixture, email: str = "ann@shop.example", name: str = "Ann"
    ) -> Person:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 40000 + len(clients)))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(http)
        response = await http.get(await make_login_link(http, org, email=email, name=name))
        assert response.status_code == 303, response.text
        home = await http.get("/")
        assert home.status_code == 200, home.text
        found = _CSRF.search(home.text)
        assert found is not None
        return Person(http, found.group(1), name)

    yield open_as
    for http in clients:
        await http.aclose()


async def start_conversation(
    client: httpx.AsyncClient,
    org: OrgFixture,
    *,
    name: str | None = "Vera Visitor",
    email: str | None = None,
    channel: str = "web",
    text: str | None = "Where is my order?",
) -> str:
    contact = {key: value for key, value in (("name", name), ("email", email)) if value}
    body: dict[str, Any] = {"channel": {"type": channel}}
    if contact:
        body["contact"] = contact
    created = await client.post("/chat/sessions", json=body, headers=org.headers)
    assert created.status_code == 201, created.text
    session_id: str = created.json()["id"]
    if text:
        await contact_says(client, org, session_id, text)
    return session_id


async def contact_says(
    client: httpx.AsyncClient, org: OrgFixture, session_id: str, text: str
) -> None:
    sent = await client.post(
        f"/chat/sessions/{session_id}/send",
        json={"sender": "contact", "message": {"text": text}},
        headers=org.headers,
    )
    assert sent.status_code == 200, sent.text


async def ai_replies(
    sessionmaker: Any,
    org: OrgFixture,
    session_id: str,
    text: str,
    *,
    citations: list[dict[str, str]] | None = None,
    debug: dict[str, Any] | None = None,
) -> None:
    async with transaction(sessionmaker) as db:
        session = await conversations.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        await conversations.append_event(
            db,
            session=session,
            type="message",
            sender_type="ai",
            text=text,
            citations=citations,
            debug=debug,
        )


async def hand_off(sessionmaker: Any, org: OrgFixture, session_id: str) -> None:
    async with transaction(sessionmaker) as db:
        session = await conversations.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        await conversations.hand_off(
            db,
            session=session,
            reasons=["user_requested_human_assistance"],
            explanation="The contact asked to talk to a person.",
        )


async def session_json(
    client: httpx.AsyncClient, org: OrgFixture, session_id: str
) -> dict[str, Any]:
    response = await client.get(f"/chat/sessions/{session_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    client: httpx.AsyncClient, org: OrgFixture, session_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/chat/sessions/{session_id}/history", params={"limit": 100}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def listed_ids(html: str) -> list[str]:
    """The conversations of an inbox page or list, in order."""
    return re.findall(r'data-session-id="([0-9a-f-]{36})" data-testid="conversation-item"', html)
