"""The dashboard's live feed over real HTTP: cookie-authenticated, only the signed-in org's
conversations, ended when the browser session ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from tests.dashboard.conftest import Person, contact_says, start_conversation
from tests.server import free_port
from tests.widget.test_push import EventStream

from deskpilot.dashboard import stream as dashboard_stream


@pytest.fixture
async def live(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The test app over real HTTP (httpx's ASGI transport cannot stream)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_config=None)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield http
    server.should_exit = True
    await task


@asynccontextmanager
async def open_feed(http: httpx.AsyncClient, person: Person) -> AsyncIterator[EventStream]:
    cookie = person.client.cookies["dp_session"]
    async with http.stream(
        "GET", "/inbox/stream", headers={"Cookie": f"dp_session={cookie}"}
    ) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        feed = EventStream(response)
        try:
            assert (await feed.frame()).retry == 3000
            assert (await feed.frame()).event == "ready"
            yield feed
        finally:
            await feed.close()


class TestFeed:
    async def test_a_new_message_is_announced_and_another_orgs_never(
        self, client, live, org, other_org, sign_in
    ):
        ann = await sign_in(org)
        mine = await start_conversation(client, org, text=None)
        theirs = await start_conversation(client, other_org, text=None)
        async with open_feed(live, ann) as feed:
            await contact_says(client, other_org, theirs, "Not for you")
            await contact_says(client, org, mine, "For you")
            change = await feed.next("change")
            assert change.data == {"session_id": mine, "event_type": "message"}

    async def test_without_a_session_it_is_401(self, live):
        response = await live.get("/inbox/stream")
        assert response.status_code == 401

    async def test_it_ends_when_the_session_is_signed_out(
        self, live, org, sign_in, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setattr(dashboard_stream, "HEARTBEAT_SECONDS", 0.2)
        ann = await sign_in(org)
        async with open_feed(live, ann) as feed:
            assert (await ann.post("/auth/logout")).status_code == 303
            end = await feed.next("end", timeout=5)
            assert end.data == {"reason": "signed_out"}
            with pytest.raises(EOFError):
                await asyncio.wait_for(feed.frame(), 5)
