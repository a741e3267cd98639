"""The inbox and the conversation view: order, filters, unread counts, the transcript with
the AI's sources and debug record, every action, and bounded queries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from deskpilot.models import ChatSession, ReadMark
from tests.dashboard.conftest import (
    DEBUG_RECORD,
    ai_replies,
    contact_says,
    hand_off,
    history,
    listed_ids,
    session_json,
    start_conversation,
)
from tests.widget.conftest import unverified


def unread_of(html: str, session_id: str) -> int:
    item = html.split(f'data-session-id="{session_id}"', 1)[1].split("</li>", 1)[0]
    found = re.search(r'data-testid="unread"[^>]*>(\d+)<', item)
    return int(found.group(1)) if found else 0


async def make_tag(client, org, name: str) -> None:
    response = await client.put("/tags", json={"tag_name": name}, headers=org.headers)
    assert response.status_code in (200, 201), response.text


class TestList:
    async def test_newest_activity_first(self, client, org, sign_in):
        ann = await sign_in(org)
        first = await start_conversation(client, org, name="First")
        second = await start_conversation(client, org, name="Second")
        assert listed_ids((await ann.get("/inbox")).text) == [second, first]
        await contact_says(client, org, first, "Any news?")
        assert listed_ids((await ann.get("/inbox")).text) == [first, second]

    async def test_status_views(self, client, org, sign_in, sessionmaker):
        ann = await sign_in(org)
        plain = await start_conversation(client, org)
        handed = await start_conversation(client, org)
        resolved = await start_conversation(client, org)
        await hand_off(sessionmaker, org, handed)
        await client.patch(
            f"/chat/sessions/{resolved}", json={"status": "closed_resolved"}, headers=org.headers
        )
        assert set(listed_ids((await ann.get("/inbox")).text)) == {plain, handed}
        assert listed_ids((await ann.get("/inbox?view=handed_off")).text) == [handed]
        assert listed_ids((await ann.get("/inbox?view=resolved")).text) == [resolved]
        assert len(listed_ids((await ann.get("/inbox?view=all")).text)) == 3
        page = (await ann.get("/inbox")).text
        assert re.search(r'data-testid="tab-handed_off">Handed off <span class="count">1<', page)

    async def test_channel_tag_and_assignee_filters(self, client, org, sign_in):
        ann = await sign_in(org)
        await make_tag(client, org, "Billing")
        web = await start_conversation(client, org, channel="web")
        email = await start_conversation(client, org, channel="email")
        assert listed_ids((await ann.get("/inbox?channel=email")).text) == [email]
        await client.patch(f"/chat/sessions/{web}", json={"tags": ["billing"]}, headers=org.headers)
        assert listed_ids((await ann.get("/inbox?tag=Billing")).text) == [web]
        await ann.post(f"/inbox/{email}/takeover")
        assert listed_ids((await ann.get("/inbox?assignee=me")).text) == [email]
        assert listed_ids((await ann.get("/inbox?assignee=none")).text) == [web]
        # Values from the address bar that mean nothing are ignored, not errors.
        assert len(listed_ids((await ann.get("/inbox?channel=pigeon&view=x")).text)) == 2
        # An assignee id past what the database stores is bad input, not a server error.
        assert (await ann.get(f"/inbox?assignee={2**40}")).status_code == 400

    @pytest.mark.parametrize("query", ["vera", "VERA@SHOP", "refund for order", "50%", "#1"])
    async def test_search_over_contacts_messages_and_ticket_numbers(
        self, client, org, sign_in, query
    ):
        ann = await sign_in(org)
        found = await start_conversation(
            client,
            org,
            name="Vera Visitor",
            email="vera@shop.example",
            text="A refund for order 50% off",
        )
        await start_conversation(client, org, name="Other", email="other@x.example", text="Hello")
        response = await ann.get("/inbox", params={"q": query})
        assert listed_ids(response.text) == [found]

    async def test_pages_of_fifty(self, client, org, sign_in, sessionmaker):
        ann = await sign_in(org)
        for _ in range(52):
            await client.post("/chat/sessions", json={}, headers=org.headers)
        page = (await ann.get("/inbox")).text
        assert len(listed_ids(page)) == 50
        more = re.search(r'href="/inbox\?cursor=([^"]+)"', page)
        assert more is not None
        rest = (await ann.get(f"/inbox?cursor={more.group(1)}")).text
        assert len(listed_ids(rest)) == 2
        assert not set(listed_ids(rest)) & set(listed_ids(page))


class TestUnread:
    async def test_events_after_the_user_last_opened_the_conversation(self, client, org, sign_in):
        ann = await sign_in(org, "ann@shop.example")
        bob = await sign_in(org, "bob@shop.example")
        session_id = await start_conversation(client, org)
        assert unread_of((await ann.get("/inbox")).text, session_id) == 1
        await ann.get(f"/inbox/{session_id}")
        assert unread_of((await ann.get("/inbox")).text, session_id) == 0
        # Per user: Bob has not opened it.
        assert unread_of((await bob.get("/inbox")).text, session_id) == 1
        await contact_says(client, org, session_id, "Hello?")
        await contact_says(client, org, session_id, "Anyone there?")
        assert unread_of((await ann.get("/inbox")).text, session_id) == 2
        assert "<strong>1</strong> with unread messages" in (await ann.get("/")).text

    async def test_own_actions_are_read(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        await ann.get(f"/inbox/{session_id}")
        await ann.post(f"/inbox/{session_id}/messages", {"text": "On it", "kind": "reply"})
        assert unread_of((await ann.get("/inbox")).text, session_id) == 0

    async def test_a_mark_never_moves_back(self, client, org, sign_in, sessionmaker):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        await contact_says(client, org, session_id, "More")
        await ann.get(f"/inbox/{session_id}/live")
        await ann.get(f"/inbox/{session_id}")
        async with sessionmaker() as db:
            marks = (await db.scalars(sa.select(ReadMark.seen_seq))).all()
        assert marks == [2]


class TestConversationView:
    async def test_transcript_with_notes_marked_sources_and_debug(
        self, client, org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org, email="vera@shop.example")
        await ai_replies(
            sessionmaker,
            org,
            session_id,
            "Delivery takes 3 to 5 business days [1].",
            citations=[{"url": "https://shop.example/help/shipping", "title": "Shipping"}],
            debug=DEBUG_RECORD,
        )
        await ann.post(f"/inbox/{session_id}/messages", {"text": "VIP customer", "kind": "note"})
        page = (await ann.get(f"/inbox/{session_id}")).text
        assert "Where is my order?" in page and "Delivery takes 3 to 5" in page
        assert 'data-kind="note"' in page and "Internal note · not visible to the contact" in page
        assert '<a href="https://shop.example/help/shipping"' in page
        debug = page.split('data-testid="debug"', 1)[1]
        for shown in ("Shipping and delivery", "0.812", "Express shipping", "Tone of voice (v3)"):
            assert shown in debug
        assert "0.870" in debug and "retrieve" in debug and "10.2" in debug
        assert 'href="javascript:' not in page and "Hostile link" in debug
        assert "vera@shop.example" in page and "Vera Visitor" in page

    async def test_the_live_panel_is_the_conversation_alone(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        live = await ann.get(f"/inbox/{session_id}/live")
        assert live.status_code == 200
        assert "Where is my order?" in live.text and "<html" not in live.text

    async def test_the_list_fragment_for_live_refresh(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        fragment = await ann.get("/inbox/list", params={"open": session_id})
        assert listed_ids(fragment.text) == [session_id] and "<html" not in fragment.text
        assert 'aria-current="true"' in fragment.text


class TestActions:
    async def test_reply_reaches_the_visitors_widget_and_takes_over(
        self, client, org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        visitor = await unverified(client, org, non_verified_name="Vera")
        created = await visitor.create_session()
        session_id = created["id"]
        response = await ann.post(
            f"/inbox/{session_id}/messages", {"text": "Hi Vera, it ships today.", "kind": "reply"}
        )
        assert (
            response.status_code == 303 and response.headers["location"] == f"/inbox/{session_id}"
        )
        seen = await visitor.history(session_id)
        texts = [item["content"]["text"] for item in seen if item["type"] == "agent_message"]
        assert texts == ["Hi Vera, it ships today."]
        assert seen[-1]["sender"]["name"] == "Ann"
        session = await session_json(client, org, session_id)
        assert session["assignee_id"] is not None

    async def test_a_note_stays_out_of_the_widget(self, client, org, sign_in):
        ann = await sign_in(org)
        visitor = await unverified(client, org)
        session_id = (await visitor.create_session())["id"]
        await ann.post(f"/inbox/{session_id}/messages", {"text": "Internal only", "kind": "note"})
        assert await visitor.history(session_id) == []
        events = await history(client, org, session_id)
        assert [e["event"]["type"] for e in events] == ["human_agent_comment"]

    @pytest.mark.parametrize(("text", "kind"), [("   ", "reply"), ("", "note"), ("x", "shout")])
    async def test_empty_text_or_unknown_kind_is_400(self, client, org, sign_in, text, kind):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        response = await ann.post(f"/inbox/{session_id}/messages", {"text": text, "kind": kind})
        assert response.status_code == 400
        htmx = await ann.post(
            f"/inbox/{session_id}/messages", {"text": text, "kind": kind}, htmx=True
        )
        assert htmx.status_code == 400 and htmx.headers["content-type"].startswith("text/plain")

    async def test_take_over_assign_and_hand_back(self, client, org, sign_in, sessionmaker):
        ann = await sign_in(org, "ann@shop.example", "Ann")
        bob = await sign_in(org, "bob@shop.example", "Bob")
        session_id = await start_conversation(client, org)
        await hand_off(sessionmaker, org, session_id)
        panel = await bob.post(f"/inbox/{session_id}/takeover", htmx=True)
        assert panel.status_code == 200 and "with Bob" in panel.text
        async with sessionmaker() as db:
            ann_id = await db.scalar(
                sa.text("SELECT id FROM users WHERE email = 'ann@shop.example'")
            )
        await bob.post(f"/inbox/{session_id}/assign", {"assignee_id": str(ann_id)})
        assert (await session_json(client, org, session_id))["assignee_id"] == ann_id
        takeovers = [
            e["event"]["sender"]["name"]
            for e in await history(client, org, session_id)
            if e["event"]["type"] == "human_agent_takeover"
        ]
        assert takeovers == ["Bob", "Ann"]
        outsider = await bob.post(f"/inbox/{session_id}/assign", {"assignee_id": "999999"})
        assert outsider.status_code == 400
        await ann.post(f"/inbox/{session_id}/handback")
        session = await session_json(client, org, session_id)
        assert session["assignee_id"] is None and session["handoff"] is None
        assert session["ai_closure_type"] is None

    async def test_tag_and_untag(self, client, org, sign_in):
        ann = await sign_in(org)
        await make_tag(client, org, "Billing")
        await make_tag(client, org, "Urgent")
        session_id = await start_conversation(client, org)
        await ann.post(f"/inbox/{session_id}/tags", {"add": "billing"})
        await ann.post(f"/inbox/{session_id}/tags", {"add": "Urgent"})
        assert (await session_json(client, org, session_id))["tags"] == ["Billing", "Urgent"]
        await ann.post(f"/inbox/{session_id}/tags", {"remove": "BILLING"})
        assert (await session_json(client, org, session_id))["tags"] == ["Urgent"]
        unknown = await ann.post(f"/inbox/{session_id}/tags", {"add": "nope"})
        assert unknown.status_code == 400

    async def test_resolve_and_reopen(self, client, org, sign_in):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)
        await ann.post(f"/inbox/{session_id}/resolve")
        session = await session_json(client, org, session_id)
        assert session["status"] == "closed_resolved" and session["sentiment"] is not None
        page = (await ann.get(f"/inbox/{session_id}")).text
        assert 'data-testid="reopen"' in page and "Conversation closed" in page
        await ann.post(f"/inbox/{session_id}/reopen")
        assert (await session_json(client, org, session_id))["status"] == "open"


class TestQueryCounts:
    @contextmanager
    def counting(self, app) -> Iterator[list[str]]:
        engine = app.state.deskpilot.engine.sync_engine
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)

    async def test_the_inbox_costs_the_same_for_3_or_30_conversations(
        self, app, client, org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        await make_tag(client, org, "Billing")

        async def measure() -> int:
            with self.counting(app) as statements:
                assert (await ann.get("/inbox?view=all")).status_code == 200
            return len(statements)

        async def add(count: int) -> None:
            for index in range(count):
                session_id = await start_conversation(client, org, name=f"Contact {index}")
                await ai_replies(sessionmaker, org, session_id, "Answer", debug=DEBUG_RECORD)
                await client.patch(
                    f"/chat/sessions/{session_id}", json={"tags": ["Billing"]}, headers=org.headers
                )

        await add(3)
        few = await measure()
        await add(27)
        many = await measure()
        assert few == many
        async with sessionmaker() as db:
            assert await db.scalar(sa.select(sa.func.count()).select_from(ChatSession)) == 30

    async def test_a_conversation_costs_the_same_for_2_or_40_events(
        self, app, client, org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        session_id = await start_conversation(client, org)

        async def measure() -> int:
            with self.counting(app) as statements:
                assert (await ann.get(f"/inbox/{session_id}")).status_code == 200
            return len(statements)

        few = await measure()
        for index in range(20):
            await ai_replies(sessionmaker, org, session_id, f"Answer {index}", debug=DEBUG_RECORD)
            await contact_says(client, org, session_id, f"Question {index}")
        assert few == await measure()
        assert uuid.UUID(session_id)
