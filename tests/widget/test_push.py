"""Push (API.md 4.3): the server-sent events stream of one session over real HTTP (an
in-process uvicorn on the test app, in-process event bus), and across two `deskpilot serve`
processes sharing Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import REDIS_URL
from tests.factories import make_org, make_partner
from tests.server import running_server, server_env
from tests.widget.conftest import BASE, Browser, assert_error, unverified, verified


@dataclass
class Frame:
    event: str | None = None
    id: str | None = None
    data: Any = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


class EventStream:
    """Reads SSE frames off an httpx streaming response (in a task of its own: cancelling a
    read half-way would break httpx's line iterator)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        frame, seen = Frame(), False
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if seen:
                        await self._frames.put(frame)
                    frame, seen = Frame(), False
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    frame.comments.append(value)
                elif name == "event":
                    frame.event = value
                elif name == "id":
                    frame.id = value
                elif name == "data":
                    frame.data = json.loads(value)
                elif name == "retry":
                    frame.retry = int(value)
        except httpx.HTTPError:
            pass
        finally:
            await self._frames.put(None)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def frame(self, timeout: float = 5.0) -> Frame:
        found = await asyncio.wait_for(self._frames.get(), timeout)
        if found is None:
            await self._frames.put(None)
            raise EOFError("stream closed")
        return found

    async def next(self, event: str = "message", timeout: float = 5.0) -> Frame:
        """The next frame of kind `event`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.frame(timeout=max(0.01, deadline - time.monotonic()))
            if frame.event == event:
                return frame

    async def messages_until_quiet(self, quiet: float = 0.5) -> list[Frame]:
        found: list[Frame] = []
        while True:
            try:
                frame = await self.frame(timeout=quiet)
            except TimeoutError:
                return found
            if frame.event == "message":
                found.append(frame)


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    session_id: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    async with http.stream(
        "GET",
        f"{BASE}/stream/{session_id}",
        headers={"Accept": "text/event-stream", **(headers or {})},
        params=params,
    ) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        stream = EventStream(response)
        try:
            first = await stream.frame()
            assert first.retry == 3000
            yield stream
        finally:
            await stream.close()


async def agent_says(client: httpx.AsyncClient, org: Any, session_id: str, text: str) -> str:
    response = await client.post(
        f"/chat/sessions/{session_id}/send",
        json={"sender": "agent", "agent": {"id": 7, "name": "Grace"}, "message": {"text": text}},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["data"]["message"]["id"]
    return message_id


class TestStream:
    @pytest.mark.usefixtures("no_ai")
    async def test_agent_message_reaches_the_open_stream_within_a_second(
        self, client, live, org
    ) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            assert stream.response.headers["cache-control"] == "no-cache"
            assert stream.response.headers["x-accel-buffering"] == "no"
            started = time.monotonic()
            message_id = await agent_says(client, org, session["id"], "Hello, Grace here")
            joined = await stream.next(timeout=1.0)
            said = await stream.next(timeout=1.0)
            assert time.monotonic() - started < 1.0
        assert joined.data["type"] == "agent_joined"
        assert said.event == "message" and said.id == message_id
        history = await browser.history(session["id"])
        assert said.data == history[-1]
        assert said.data["type"] == "agent_message"
        assert said.data["content"]["text"] == "Hello, Grace here"
        assert said.data["sender"] == {"kind": "agent", "name": "Grace", "avatar": None}

    @pytest.mark.usefixtures("no_ai")
    async def test_contacts_own_message_from_another_tab_and_takeover_session_frame(
        self, client, live, org
    ) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            await browser.send(session["id"], "Is anyone there?")
            mine = await stream.next()
            assert mine.data["sender"]["kind"] == "user"
            response = await client.post(
                f"/chat/sessions/{session['id']}/send",
                json={
                    "sender": "agent",
                    "agent": {"id": 3, "name": "Ada"},
                    "message": {"text": "I am"},
                    "should_take_over_session_from_ai": True,
                },
                headers=org.headers,
            )
            assert response.status_code == 200, response.text
            changed = await stream.next("session")
        assert changed.data["id"] == session["id"]
        assert changed.data["assignee"]["kind"] == "human"

    async def test_the_ais_reply_reaches_the_stream_with_typing(self, client, live, shop) -> None:
        browser = await unverified(client, shop)
        session = await browser.create_session()
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            sending = asyncio.create_task(
                browser.send(session["id"], "How long do I have to return an item?")
            )
            own = await stream.next()
            typing = await stream.next("typing", timeout=10)
            reply = await stream.next(timeout=30)
            done = await stream.next("typing", timeout=5)
            result = await sending
        assert own.data["sender"]["kind"] == "user"
        assert typing.data == {"kind": "ai", "active": True}
        assert done.data == {"kind": "ai", "active": False}
        assert reply.id == result["autopilotResponse"]["id"]
        assert reply.data["sender"]["kind"] == "ai"
        assert "30 days" in reply.data["content"]["text"]

    async def test_the_reply_is_streamed_in_pieces_before_it_is_stored(
        self, client, live, shop
    ) -> None:
        browser = await unverified(client, shop)
        session = await browser.create_session()
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            sending = asyncio.create_task(
                browser.send(session["id"], "How long do I have to return an item?")
            )
            await stream.next()  # the contact's own message
            await stream.next("typing", timeout=10)
            pieces: list[str] = []
            while True:
                frame = await stream.frame(timeout=30)
                if frame.event == "delta":
                    assert frame.id is None  # not stored, never replayed
                    assert frame.data["kind"] == "ai"
                    pieces.append(frame.data["text"])
                elif frame.event == "message":
                    reply = frame
                    break
            await sending
        assert pieces
        assert reply.data["content"]["text"].startswith("".join(pieces))

    @pytest.mark.usefixtures("no_ai")
    async def test_reconnect_with_last_event_id_replays_exactly_the_missed_events(
        self, client, live, org
    ) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            await agent_says(client, org, session["id"], "one")
            await stream.next()  # agent_joined
            first = await stream.next()
        missed = [
            await agent_says(client, org, session["id"], text) for text in ("two", "three", "four")
        ]
        headers = {**browser.headers, "Last-Event-ID": first.id or ""}
        async with open_stream(live, session["id"], headers=headers) as stream:
            replayed = await stream.messages_until_quiet()
            assert [f.id for f in replayed] == missed
            assert [f.data["content"]["text"] for f in replayed] == ["two", "three", "four"]
            live_id = await agent_says(client, org, session["id"], "five")
            after = await stream.messages_until_quiet()
        assert [f.id for f in after] == [live_id]

    @pytest.mark.usefixtures("no_ai")
    async def test_without_last_event_id_only_new_events_arrive(self, client, live, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        await agent_says(client, org, session["id"], "before")
        async with open_stream(live, session["id"], headers=browser.headers) as stream:
            assert await stream.messages_until_quiet(0.3) == []
            new_id = await agent_says(client, org, session["id"], "after")
            assert [f.id for f in await stream.messages_until_quiet()] == [new_id]


@pytest.mark.usefixtures("no_ai")
class TestTickets:
    async def test_a_ticket_opens_the_stream_once_without_headers(self, client, live, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        response = await browser.post("/stream-ticket", json={"session_id": session["id"]})
        assert response.status_code == 200, response.text
        ticket = response.json()
        assert set(ticket) == {"ticket", "expires_at"}
        first_id = await agent_says(client, org, session["id"], "hi")
        params = {"ticket": ticket["ticket"], "last_event_id": first_id}
        async with open_stream(live, session["id"], params=params) as stream:
            new_id = await agent_says(client, org, session["id"], "again")
            assert [f.id for f in await stream.messages_until_quiet()] == [new_id]
        again = await live.get(f"{BASE}/stream/{session['id']}", params=params)
        assert "already used" in assert_error(again, 401)["message"]

    async def test_a_ticket_is_bound_to_its_session(self, client, live, org) -> None:
        browser = await unverified(client, org)
        mine = await browser.create_session()
        other = await browser.create_session()
        response = await browser.post("/stream-ticket", json={"session_id": mine["id"]})
        ticket = response.json()["ticket"]
        assert_error(await live.get(f"{BASE}/stream/{other['id']}", params={"ticket": ticket}), 401)
        bad = await live.get(f"{BASE}/stream/{mine['id']}", params={"ticket": ticket + "x"})
        assert_error(bad, 401)

    async def test_no_ticket_for_another_contacts_session(self, client, org) -> None:
        owner = await unverified(client, org)
        session = await owner.create_session()
        stranger = await unverified(client, org)
        response = await stranger.post("/stream-ticket", json={"session_id": session["id"]})
        assert_error(response, 404)


@pytest.mark.usefixtures("no_ai")
class TestAccess:
    async def test_another_contact_gets_404(self, client, live, org) -> None:
        owner = await verified(client, org, "ada@example.com")
        session = await owner.create_session()
        stranger = await verified(client, org, "eve@example.com")
        response = await live.get(f"{BASE}/stream/{session['id']}", headers=stranger.headers)
        assert_error(response, 404)

    async def test_another_org_cannot_open_the_stream(self, client, live, org, other_org) -> None:
        owner = await unverified(client, org)
        session = await owner.create_session()
        outsider = await unverified(client, other_org)
        response = await live.get(f"{BASE}/stream/{session['id']}", headers=outsider.headers)
        assert_error(response, 404)
        # This contact's token with the other org's widget token.
        crossed = Browser(client, other_org.widget_token, owner.token)
        response = await live.get(f"{BASE}/stream/{session['id']}", headers=crossed.headers)
        assert_error(response, 401)

    async def test_no_credentials_is_401(self, client, live, org) -> None:
        owner = await unverified(client, org)
        session = await owner.create_session()
        assert_error(await live.get(f"{BASE}/stream/{session['id']}"), 401)
        response = await live.get(
            f"{BASE}/stream/{session['id']}", headers={"X-Bot-Token": org.widget_token}
        )
        assert_error(response, 401)

    async def test_an_org_never_hears_another_orgs_events(
        self, client, live, org, other_org
    ) -> None:
        mine = await unverified(client, org)
        session = await mine.create_session()
        theirs = await unverified(client, other_org)
        their_session = await theirs.create_session()
        async with open_stream(live, session["id"], headers=mine.headers) as stream:
            await agent_says(client, other_org, their_session["id"], "not for you")
            assert await stream.messages_until_quiet(0.5) == []

    async def test_at_most_three_streams_per_contact(self, client, live, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        async with (
            open_stream(live, session["id"], headers=browser.headers),
            open_stream(live, session["id"], headers=browser.headers),
            open_stream(live, session["id"], headers=browser.headers),
        ):
            response = await live.get(f"{BASE}/stream/{session['id']}", headers=browser.headers)
            assert_error(response, 429)
            assert "Retry-After" in response.headers
        # Closed streams give their slots back.
        for _ in range(50):
            async with live.stream(
                "GET", f"{BASE}/stream/{session['id']}", headers=browser.headers
            ) as response:
                if response.status_code == 200:
                    break
            await asyncio.sleep(0.05)
        assert response.status_code == 200

    async def test_the_stream_ends_when_the_contact_token_expires(
        self, client, live, org, app, monkeypatch
    ) -> None:
        from datetime import UTC, datetime, timedelta

        from deskpilot.widget import tokens

        browser = await unverified(client, org)
        session = await browser.create_session()
        claims = tokens.read_contact_token(app.state.deskpilot.secret_key, browser.token)
        soon = Browser(
            client,
            org.widget_token,
            _token_expiring(app, claims, datetime.now(UTC) + timedelta(seconds=2)),
        )
        started = time.monotonic()
        async with open_stream(live, session["id"], headers=soon.headers) as stream:
            with pytest.raises(EOFError):
                await stream.frame(timeout=5)
        assert time.monotonic() - started < 4.5


def _token_expiring(app: Any, claims: Any, expires: Any) -> str:
    import jwt

    from deskpilot.widget import tokens

    payload = {
        "sub": str(claims.contact_id),
        "org": str(claims.org_id),
        "vrf": claims.verified,
        "iat": int(expires.timestamp()) - 60,
        "exp": int(expires.timestamp()),
        "jti": str(claims.token_id),
    }
    key = tokens.signing_key(app.state.deskpilot.secret_key)
    return jwt.encode(payload, key, algorithm=tokens.ALGORITHM)


# --- two processes, one Redis ---------------------------------------------------------------


def _redis_available() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


async def test_an_event_published_by_one_server_reaches_a_stream_on_another(
    migrated: str, tmp_path: Path, sessionmaker: Any, client: httpx.AsyncClient
) -> None:
    if not _redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"deskpilot-test-{uuid.uuid4().hex[:12]}"
    env = server_env(
        migrated,
        tmp_path,
        REDIS_URL=REDIS_URL,
        EVENTS_PREFIX=prefix,
        JOBS_SCHEDULER_INTERVAL_SECONDS="3600",
    )
    partner = await make_partner(sessionmaker)
    with running_server(env) as first, running_server(env) as second:
        async with (
            httpx.AsyncClient(base_url=first, timeout=10) as one,
            httpx.AsyncClient(base_url=second, timeout=10) as two,
        ):
            org = await make_org(one, partner)
            browser = await unverified(one, org)
            session = await browser.create_session()
            async with open_stream(two, session["id"], headers=browser.headers) as stream:
                started = time.monotonic()
                message_id = await agent_says(one, org, session["id"], "from the first server")
                frames = [await stream.next(timeout=2), await stream.next(timeout=2)]
                assert time.monotonic() - started < 2.0
            assert frames[-1].id == message_id
            assert frames[-1].data["content"]["text"] == "from the first server"
            # And a ticket minted on one server opens a stream on the other, once.
            response = await browser.post("/stream-ticket", json={"session_id": session["id"]})
            ticket = response.json()["ticket"]
            async with open_stream(two, session["id"], params={"ticket": ticket}):
                pass
            reused = await one.get(f"{BASE}/stream/{session['id']}", params={"ticket": ticket})
            assert_error(reused, 401)
    leftovers = redis.Redis.from_url(REDIS_URL).keys(f"{prefix}:*")
    assert all(b":ticket:" in key for key in leftovers)
