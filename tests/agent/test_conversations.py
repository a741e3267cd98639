"""The agent inside conversations: a contact message gets the AI's turn in the background
jobs, its reply lands in the history with sources, handoffs and takeovers silence it, a
turn lost in a crash is resumed, and a conversation can become training."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from deskpilot import tasks as registry
from deskpilot.agent import tasks as agent_tasks
from deskpilot.db import transaction
from deskpilot.models import ChatEvent
from deskpilot.models.base import utcnow


async def start(client, org, *, channel="web") -> str:
    response = await client.post(
        "/chat/sessions",
        json={"channel": {"type": channel}, "contact": {"email": "ada@example.com"}},
        headers=org.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def send(client, org, session_id, text, *, wait=True, **body):
    response = await client.post(
        f"/chat/sessions/{session_id}/send",
        params={"wait_for_ai": "true"} if wait else None,
        json={"sender": "contact", "message": {"text": text}, **body},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def history(client, org, session_id) -> list[dict]:
    response = await client.get(
        f"/chat/sessions/{session_id}/history", params={"limit": 100}, headers=org.headers
    )
    return response.json()["items"]


async def session_of(client, org, session_id) -> dict:
    return (await client.get(f"/chat/sessions/{session_id}", headers=org.headers)).json()


def messages(items) -> list[tuple[str, str]]:
    return [
        (i["event"]["sender"]["type"], i["event"]["content"]["text"])
        for i in items
        if i["event"]["type"] == "message"
    ]


async def test_contact_message_gets_an_ai_reply_with_its_sources(client, shop):
    session_id = await start(client, shop)
    data = await send(client, shop, session_id, "How long do I have to return an item?")
    reply = data["autopilotResponse"]
    assert data["code"] is None
    assert "30 days" in reply["value"]["content"]
    assert reply["mightSolveUserIssue"] is True
    assert data["sessionIsHandedOff"] is False
    items = await history(client, shop, session_id)
    assert [m[0] for m in messages(items)] == ["contact", "ai"]
    ai = items[-1]["event"]
    assert ai["sources"][0]["url"].endswith("/help/returns.html")
    assert str(items[-1]["id"]) == reply["id"]
    session = await session_of(client, shop, session_id)
    assert session["language"] == "en" and session["sentiment"] == "neutral"


async def test_send_without_waiting_answers_in_the_background(client, shop, app):
    session_id = await start(client, shop)
    data = await send(client, shop, session_id, "How much does standard shipping cost?", wait=False)
    assert set(data) == {"message"}
    await app.state.deskpilot.queue.wait_idle()
    assert messages(await history(client, shop, session_id))[-1][0] == "ai"


async def test_handoff_stops_the_ai(client, shop):
    session_id = await start(client, shop)
    data = await send(client, shop, session_id, "I want to talk to a person")
    assert data["code"] == "session_assigned_to_human_agent"
    assert data["sessionIsHandedOff"] is True
    assert "I want to talk to a person" in data["resolveArgs"]["summary"]
    session = await session_of(client, shop, session_id)
    assert session["handoff"]["reasons"] == ["user_requested_human_assistance"]
    assert session["ai_closure_type"] == "handed_off"
    types = [i["event"]["type"] for i in await history(client, shop, session_id)]
    assert types == ["message", "message", "handoff"]  # contact, the AI's notice, handoff
    again = await send(client, shop, session_id, "How long do I have to return an item?")
    assert again["code"] == "session_assigned_to_human_agent"
    assert messages(await history(client, shop, session_id))[-1][0] == "contact"


async def test_once_a_human_takes_over_the_ai_stays_silent(client, shop):
    session_id = await start(client, shop)
    response = await client.post(
        f"/chat/sessions/{session_id}/send",
        json={
            "sender": "agent",
            "message": {"text": "Hi, Sam here from the team."},
            "agent": {"id": 7, "name": "Sam"},
            "should_take_over_session_from_ai": True,
        },
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text
    data = await send(client, shop, session_id, "How long do I have to return an item?")
    assert data["code"] == "session_assigned_to_human_agent"
    assert [m[0] for m in messages(await history(client, shop, session_id))] == [
        "human_agent",
        "contact",
    ]


async def test_tags_and_sentiment_reach_the_session(client, shop):
    await client.put(
        "/tags",
        json={"tag_name": "shipping", "description": "Delivery times and shipping costs"},
        headers=shop.headers,
    )
    session_id = await start(client, shop)
    await send(client, shop, session_id, "How long does express delivery take?")
    await send(client, shop, session_id, "thanks!")
    session = await session_of(client, shop, session_id)
    assert session["tags"] == ["shipping"]
    assert session["sentiment"] == "happy"


async def test_messages_are_answered_in_order(client, shop, app):
    session_id = await start(client, shop)
    await send(client, shop, session_id, "How long do I have to return an item?", wait=False)
    await send(client, shop, session_id, "How much does standard shipping cost?", wait=False)
    await app.state.deskpilot.queue.wait_idle()
    said = messages(await history(client, shop, session_id))
    assert [m[0] for m in said] == ["contact", "contact", "ai", "ai"]
    assert "30 days" in said[2][1]
    assert "4.90 EUR" in said[3][1]


async def test_a_turn_lost_in_a_crash_is_resumed(client, shop, app, sessionmaker, monkeypatch):
    # The message is stored, but its job is lost (the process died before running it).
    monkeypatch.delitem(registry.TASKS, agent_tasks.AGENT_TURN)
    session_id = await start(client, shop)
    await send(client, shop, session_id, "How long do I have to return an item?", wait=False)
    monkeypatch.undo()
    async with transaction(sessionmaker) as db:
        await db.execute(
            sa.update(ChatEvent)
            .where(ChatEvent.session_id == uuid.UUID(session_id))
            .values(created_at=utcnow() - timedelta(minutes=5))
        )
    ctx = app.state.deskpilot.tasks
    await agent_tasks.resume_turns(ctx)
    await app.state.deskpilot.queue.wait_idle()
    said = messages(await history(client, shop, session_id))
    assert [m[0] for m in said] == ["contact", "ai"] and "30 days" in said[1][1]
    # A second sweep finds nothing to do: the turn ran once.
    await agent_tasks.resume_turns(ctx)
    await app.state.deskpilot.queue.wait_idle()
    assert len(messages(await history(client, shop, session_id))) == 2


async def test_a_claimed_message_is_answered_once(client, shop, app, sessionmaker):
    session_id = await start(client, shop)
    await send(client, shop, session_id, "How long do I have to return an item?")
    event_id = (await history(client, shop, session_id))[0]["id"]
    # A duplicate delivery of the same job (at-least-once queues) finds it done.
    await agent_tasks.agent_turn(
        app.state.deskpilot.tasks, org_id=shop.id, session_id=session_id, event_id=event_id
    )
    assert len(messages(await history(client, shop, session_id))) == 2


async def test_summary_and_sentiment_on_close(client, shop, sessionmaker):
    session_id = await start(client, shop)
    await send(client, shop, session_id, "How long do I have to return an item?")
    response = await client.patch(
        f"/chat/sessions/{session_id}",
        json={"status": "closed_resolved", "generate_summary_and_sentiment_on_resolve": True},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["sentiment"] == "neutral"
    async with sessionmaker() as db:
        from deskpilot.models import ChatSession

        stored = await db.get(ChatSession, uuid.UUID(session_id))
        assert "How long do I have to return an item?" in stored.summary
        assert "Answered by the AI." in stored.summary


class TestGenerateFromSession:
    async def test_a_human_answer_becomes_a_draft_scenario(self, client, shop, ask):
        session_id = await start(client, shop)
        await send(client, shop, session_id, "Do you sell gift vouchers?")
        await client.post(
            f"/chat/sessions/{session_id}/send",
            json={
                "sender": "agent",
                "message": {"text": "Yes, gift vouchers from 10 to 200 EUR are in the shop."},
                "agent": {"id": 7, "name": "Sam"},
            },
            headers=shop.headers,
        )
        response = await client.post(
            "/training/generate-from-session", json={"session_id": session_id}, headers=shop.headers
        )
        assert response.status_code == 201, response.text
        draft = response.json()
        assert draft["is_draft"] is True and draft["type"] == "SCENARIO_SPECIFIC"
        assert draft["current_version"] is None
        assert draft["draft_title"] == "Do you sell gift vouchers?"
        assert "10 to 200 EUR" in draft["draft_content"]
        assert draft["metadata"] == {"generated_from_session_id": session_id}
        before = await ask(shop, "Do you sell gift vouchers?")
        assert "10 to 200 EUR" not in (before.reply or "")
        await client.put(
            f"/training/{draft['id']}/draft", json={"is_draft": False}, headers=shop.headers
        )
        after = await ask(shop, "Do you sell gift vouchers?")
        assert "10 to 200 EUR" in after.reply

    async def test_a_conversation_without_an_answer_is_refused(self, client, shop):
        session_id = await start(client, shop)
        await send(client, shop, session_id, "I want to talk to a person", wait=True)
        await client.post(
            f"/chat/sessions/{session_id}/redact", headers=shop.headers
        )  # nothing left to learn from
        response = await client.post(
            "/training/generate-from-session", json={"session_id": session_id}, headers=shop.headers
        )
        assert response.status_code == 400
        assert "session_id" in response.json()["message"]

    async def test_another_orgs_session_is_not_found(self, client, shop, other_org):
        session_id = await start(client, shop)
        response = await client.post(
            "/training/generate-from-session",
            json={"session_id": session_id},
            headers=other_org.headers,
        )
        assert response.status_code == 404


async def test_partner_sees_the_orgs_recent_sessions(client, shop):
    await start(client, shop)
    await start(client, shop)
    response = await client.get(
        f"/partner/v1/orgs/{shop.id}",
        headers={"Authorization": f"Bearer {shop.partner.api_key}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stats"]["sessions_30d"] == 2
