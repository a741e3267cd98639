"""The dashboard's live feed over real HTTP: cookie-authenticated, only the signed-in org's
conversations, ended when the browser session ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from deskpilot.dashboard import stream as dashboard_stream
from tests.dashboard.conftest import Person, contact_says, start_conversation
from tests.widget.test_push import EventStream


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
