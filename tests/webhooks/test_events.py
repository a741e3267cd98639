"""Every conversation event reaches a real receiver, signed, with the envelope and payload
of API.md 5, written in the transaction of the change and delivered in order."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.conversations import service as conversations
from deskpilot.db import transaction
from deskpilot.models import CrawlJob, WebhookEvent, utcnow
from deskpilot.webhooks import payloads as webhook_events
from deskpilot.widget import routes as widget_routes
from tests.webhooks.conftest import (
    all_settled,
    create_webhook,
    deliveries,
    eventually,
    readme_verify,
)
from tests.webhooks.receiver import Received, Receiver
from tests.widget.conftest import unverified

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENVELOPE = {"id", "event", "created_at", "organization_id", "data"}
MESSAGE_FIELDS = {"conversation_id", "timestamp", "customer_id", "message_id", "channel"}
MESSAGE_FIELDS |= {"message_count", "language"}
DATA_FIELDS = {
    "conversation.started": {
        "conversation_id", "assignee", "contact", "channel", "first_message", "timestamp",
    },
    "conversation.contact_response": MESSAGE_FIELDS | {"message", "attachments"},
    "conversation.ai_response": MESSAGE_FIELDS | {"response"},
    "conversation.agent_response": MESSAGE_FIELDS | {"response", "agent"},
    "conversation.handoff_to_human": {
        "conversation_id", "timestamp", "customer_id", "reason", "summary", "contact_reason",
        "user_sentiment", "was_handedoff_to_third_party", "third_party_name",
        "integration_metadata", "language", "message_count", "reasons",
    },
    "conversation.closed": {
        "conversation_id", "timestamp", "contact_id", "contact", "human_resolution_status",
        "ai_resolution_status", "ai_billing_tier", "closed_by", "is_from_third_party",
        "third_party_name", "summary", "contact_reason", "user_sentiment", "language",
        "message_count", "payload",
    },
    "csat.requested": {"conversation_id", "timestamp", "customer_id", "channel"},
    "csat.score_submitted": {"conversation_id", "timestamp", "customer_id", "score", "feedback"},
}  # fmt: skip


def check_delivery(request: Received, secret: str, org_id: str) -> dict[str, Any]:
    """What every delivery must be; returns its `data`."""
    assert readme_verify()(secret, request.headers["x-deskpilot-signature"], request.body)
    body = request.json
    assert set(body) == ENVELOPE
    assert body["organization_id"] == org_id
    assert body["id"] == request.event_id
    assert body["event"] == request.headers["x-deskpilot-event"]
    assert TIMESTAMP.match(body["created_at"])
    data: dict[str, Any] = body["data"]
    assert set(data) == DATA_FIELDS[body["event"]], body["event"]
    assert TIMESTAMP.match(data["timestamp"])
    return data


async def send(client: httpx.AsyncClient, org: Any, session_id: str, **body: Any) -> Any:
    response = await client.post(
        f"/chat/sessions/{session_id}/send", json=body, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["message"]["id"]


class TestConversationOverTheOrgApi:
    async def test_every_step_arrives_signed_with_its_documented_payload(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        created = await client.post(
            "/chat/sessions",
            json={
                "contact": {
                    "name": "Ada",
                    "email": "ada@example.com",
                    "custom_data": {"plan": "pro"},
                },
                "verified": True,
                "channel": {"type": "phone_voice"},
            },
            headers=org.headers,
        )
        session_id = created.json()["id"]
        question = await send(
            client, org, session_id, sender="contact",
            message={
                "text": "Where is my order?",
                "attachments": [
                    {"name": "photo.png", "url": "https://files.example.com/photo.png"},
                    {"name": "note.txt", "base64": base64.b64encode(b"hi").decode(),
                     "mime_type": "text/plain"},
                ],
            },
        )  # fmt: skip
        async with transaction(sessionmaker) as db:
            session = await conversations.get_session(
                db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
            )
            session.language = "en"
            reply = await conversations.append_event(
                db, session=session, type="message", sender_type="ai", text="It ships today."
            )
            await conversations.hand_off(
                db,
                session=session,
                reasons=["insufficient_knowledge"],
                explanation="No tracking data",
                summary="Asks where the order is.",
                sentiment="neutral",
            )
        answer = await send(
            client, org, session_id, sender="agent",
            agent={"id": 7, "name": "Grace"}, message={"text": "I am on it."},
        )  # fmt: skip
        async with transaction(sessionmaker) as db:
            session = await conversations.get_session(
                db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
            )
            await conversations.append_event(
                db, session=session, type="csat_requested", sender_type="system"
            )
        closed = await client.patch(
            f"/chat/sessions/{session_id}",
            json={
                "status": "closed_resolved",
                "session_closed_payload": {"ticket": "T-1"},
                "generate_summary_and_sentiment_on_resolve": True,
            },
            headers=org.headers,
        )
        assert closed.status_code == 200, closed.text

        await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 deliveries")
        requests = receiver.received()
        assert [r.json["event"] for r in requests] == [
            "conversation.started",
            "conversation.contact_response",
            "conversation.ai_response",
            "conversation.handoff_to_human",
            "conversation.agent_response",
            "csat.requested",
            "conversation.closed",
        ]
        started, contact, ai, handoff, agent, csat, close = (
            check_delivery(r, hook["secret"], org.id) for r in requests
        )
        contact_id = close["contact_id"]
        assert uuid.UUID(contact_id)
        assert started["conversation_id"] == session_id
        assert started["assignee"] == {"type": "AI", "name": "AI"}
        assert started["contact"] == {
            "id": contact_id,
            "name": "Ada",
            "enriched_data": {"address": None, "phone_number": None, "email": "ada@example.com"},
            "custom_data": {"plan": "pro"},
        }
        assert started["channel"] == "phone"  # OpenCX's name for phone_voice
        assert started["first_message"] == "Where is my order?"
        assert contact["message_id"] == question and contact["message"] == "Where is my order?"
        assert contact["customer_id"] == contact_id and contact["message_count"] == 1
        url_file, stored_file = contact["attachments"]
        assert url_file["url"] == "https://files.example.com/photo.png"
        assert stored_file["url"] == (
            f"http://testserver/chat/sessions/{session_id}/attachments/{stored_file['id']}"
        )
        download = await client.get(stored_file["url"], headers=org.headers)
        assert download.status_code == 200 and download.content == b"hi"
        assert ai["message_id"] == str(reply.id) and ai["response"] == "It ships today."
        assert ai["message_count"] == 2 and ai["language"] == "en" and ai["channel"] == "phone"
        assert handoff["reason"] == "ai_decided_to_handoff_the_conversation"
        assert handoff["reasons"] == ["insufficient_knowledge"]
        assert handoff["summary"] == "Asks where the order is."
        assert handoff["user_sentiment"] == "neutral"
        assert handoff["was_handedoff_to_third_party"] is False
        assert agent["message_id"] == answer and agent["response"] == "I am on it."
        assert agent["agent"] == {"id": 7, "name": "Grace", "email": None}
        assert agent["message_count"] == 3
        assert csat == {
            "conversation_id": session_id,
            "timestamp": csat["timestamp"],
            "customer_id": contact_id,
            "channel": "phone",
        }
        assert close["closed_by"] == {"id": None, "type": "human", "email": None}
        assert close["human_resolution_status"] == "resolved"
        assert close["ai_resolution_status"] == "not_resolved"
        assert close["payload"] == {"ticket": "T-1"}
        assert close["summary"] and close["message_count"] == 3
        assert close["contact"]["email"] == "ada@example.com"
        assert close["ai_billing_tier"] is None and close["is_from_third_party"] is False

    async def test_an_agent_taking_over_from_the_ai_is_a_handoff_to_human(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url, ["conversation.handoff_to_human"])
        session_id = (await client.post("/chat/sessions", json={}, headers=org.headers)).json()[
            "id"
        ]
        await send(client, org, session_id, sender="contact", message={"text": "Hello?"})
        response = await client.patch(
            f"/chat/sessions/{session_id}", json={"assignee_id": 42}, headers=org.headers
        )
        assert response.status_code == 200, response.text
        # Handing it to another agent is not a handoff from the AI.
        await client.patch(
            f"/chat/sessions/{session_id}", json={"assignee_id": 43}, headers=org.headers
        )
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="delivery")
        [request] = receiver.received()
        data = check_delivery(request, hook["secret"], org.id)
        assert data["reason"] == "human_agent_decided_to_take_over"
        assert data["reasons"] == [] and data["customer_id"] is None

    async def test_an_endpoint_gets_only_the_events_it_subscribed_to(
        self, client, org, receiver, sessionmaker
    ):
        other = Receiver().start()
        try:
            only_closed = await create_webhook(client, org, receiver.url, ["conversation.closed"])
            everything = await create_webhook(client, org, other.url, ["*"])
            session_id = (await client.post("/chat/sessions", json={}, headers=org.headers)).json()[
                "id"
            ]
            await send(client, org, session_id, sender="contact", message={"text": "Hi"})
            await client.patch(
                f"/chat/sessions/{session_id}",
                json={"status": "closed_unresolved"},
                headers=org.headers,
            )
            await eventually(lambda: all_settled(sessionmaker, everything["id"], 3), what="all")
            await eventually(lambda: all_settled(sessionmaker, only_closed["id"], 1), what="one")
            assert [e["event"] for e in receiver.events()] == ["conversation.closed"]
            assert [e["event"] for e in other.events()] == [
                "conversation.started",
                "conversation.contact_response",
                "conversation.closed",
            ]
            data = receiver.events()[0]["data"]
            assert data["ai_resolution_status"] == "not_resolved"
            assert data["human_resolution_status"] is None
            assert data["payload"] is None
        finally:
            other.stop()

    async def test_nothing_is_written_when_no_endpoint_wants_the_event(
        self, client, org, receiver, sessionmaker
    ):
        await create_webhook(client, org, receiver.url, ["csat.requested"])
        session_id = (await client.post("/chat/sessions", json={}, headers=org.headers)).json()[
            "id"
        ]
        await send(client, org, session_id, sender="contact", message={"text": "Hi"})
        async with sessionmaker() as db:
            count = await db.scalar(sa.select(sa.func.count()).select_from(WebhookEvent))
        assert count == 0

    async def test_an_event_rolled_back_with_its_change_is_never_sent(
        self, client, org, receiver, sessionmaker
    ):
        await create_webhook(client, org, receiver.url)
        session_id = (await client.post("/chat/sessions", json={}, headers=org.headers)).json()[
            "id"
        ]
        with pytest.raises(RuntimeError):
            async with transaction(sessionmaker) as db:
                session = await conversations.get_session(
                    db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
                )
                await conversations.append_event(
                    db, session=session, type="message", sender_type="ai", text="Never"
                )
                raise RuntimeError("the change failed")
        async with sessionmaker() as db:
            count = await db.scalar(sa.select(sa.func.count()).select_from(WebhookEvent))
        assert count == 0


class TestConversationInTheWidget:
    async def test_a_visitors_chat_csat_and_resolve_arrive(
        self, client, org, receiver, sessionmaker, monkeypatch
    ):
        monkeypatch.setattr(widget_routes, "WAIT_FOR_AI", 0.1)
        hook = await create_webhook(client, org, receiver.url)
        browser = await unverified(client, org, non_verified_name="Lin")
        session = await browser.create_session()
        result = await browser.send(session["id"], "My parcel is late")
        assert result["success"] is True
        csat = await browser.post(
            "/submit-csat", json={"session_id": session["id"], "score": 4, "feedback": "quick"}
        )
        assert csat.json() == {"success": True}
        resolved = await browser.post("/session/resolve", json={"session_id": session["id"]})
        assert resolved.json() == {"success": True}
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 4), what="4 deliveries")
        requests = receiver.received()
        started, contact, score, closed = (
            check_delivery(r, hook["secret"], org.id) for r in requests
        )
        assert [r.json["event"] for r in requests] == [
            "conversation.started",
            "conversation.contact_response",
            "csat.score_submitted",
            "conversation.closed",
        ]
        assert started["channel"] == "web" and started["contact"]["name"] == "Lin"
        assert contact["message"] == "My parcel is late" and contact["attachments"] == []
        assert score["score"] == 4 and score["feedback"] == "quick"
        assert score["customer_id"] == contact["customer_id"]
        assert closed["closed_by"] == {"type": "contact", "id": contact["customer_id"]}
        assert closed["ai_resolution_status"] == "resolved"


class TestOrder:
    async def test_events_of_a_conversation_arrive_in_order_even_through_retries(
        self, client, org, sessionmaker
    ):
        rng = random.Random(7)
        failed_once: set[str] = set()

        def script(request: Received, _count: int) -> tuple[int, float]:
            # Slow, jittery answers, and every fourth event refused the first time.
            body = request.json
            message_id = body["data"].get("message_id") or ""
            if message_id[-1:] in tuple("048c") and body["id"] not in failed_once:
                failed_once.add(body["id"])
                return 500, 0.0
            return 200, rng.uniform(0, 0.03)

        receiver = Receiver(script=script).start()
        try:
            hook = await create_webhook(client, org, receiver.url)
            sessions = [
                (await client.post("/chat/sessions", json={}, headers=org.headers)).json()["id"]
                for _ in range(3)
            ]

            async def talk(session_id: str) -> None:
                for n in range(8):
                    sender = "contact" if n % 2 == 0 else "agent"
                    await send(
                        client,
                        org,
                        session_id,
                        sender=sender,
                        message={"text": f"message {n}"},
                        **({"agent": {"id": 1, "name": "Ann"}} if sender == "agent" else {}),
                    )

            await asyncio.gather(*(talk(s) for s in sessions))
            async with sessionmaker() as db:
                emitted = {
                    s: [
                        str(event_id)
                        for event_id in await db.scalars(
                            sa.select(WebhookEvent.id)
                            .where(WebhookEvent.conversation_id == uuid.UUID(s))
                            .order_by(WebhookEvent.seq)
                        )
                    ]
                    for s in sessions
                }
            total = sum(len(ids) for ids in emitted.values())
            assert total == 3 * 9
            await eventually(
                lambda: all_settled(sessionmaker, hook["id"], total), timeout=30, what="all"
            )
            assert failed_once, "the script refused nothing: the test proves nothing"
            for session_id, expected in emitted.items():
                arrivals = [
                    r.event_id
                    for r in receiver.received(ok_only=False)
                    if r.json["data"]["conversation_id"] == session_id
                ]
                # Every attempt, failed ones included, follows the conversation's order: a
                # refused event is retried before anything after it is sent.
                assert list(dict.fromkeys(arrivals)) == expected
                positions = [expected.index(event_id) for event_id in arrivals]
                assert positions == sorted(positions)
                ok = [
                    r.event_id
                    for r in receiver.received()
                    if r.json["data"]["conversation_id"] == session_id
                ]
                assert ok == expected
            # Events given back unattempted behind a refused one did not count an attempt.
            attempts: dict[str, list[int]] = {}
            for request in receiver.received(ok_only=False):
                attempts.setdefault(request.event_id, []).append(request.attempt)
            assert all(seen == list(range(1, len(seen) + 1)) for seen in attempts.values())
            stored = {d.event_seq: d.attempts for d in await deliveries(sessionmaker, hook["id"])}
            assert sorted(stored.values()) == sorted(len(seen) for seen in attempts.values())
        finally:
            receiver.stop()


class TestCrawlJobs:
    async def test_a_finished_crawl_job_is_announced_by_its_status(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url, ["crawl.job.completed"])
        now = utcnow()
        job = CrawlJob(
            id=uuid.uuid4(),
            org_id=uuid.UUID(org.id),
            datasource_id=uuid.uuid4(),
            status="completed",
            trigger="manual",
            started_at=now,
            completed_at=now,
            total_pages=3,
            completed_pages=3,
            new_pages=2,
            updated_pages=1,
            removed_pages=0,
            unchanged_pages=0,
            created_at=now,
            updated_at=now,
        )
        async with transaction(sessionmaker) as db:
            await webhook_events.crawl_job_finished(db, job=job)
            job.status = "failed"  # not subscribed: nothing more
            await webhook_events.crawl_job_finished(db, job=job)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="delivery")
        [request] = receiver.received()
        body = request.json
        assert body["event"] == "crawl.job.completed"
        assert set(body["data"]) == {"datasource_id", "job", "timestamp"}
        assert body["data"]["job"]["id"] == str(job.id)
        assert body["data"]["job"]["new_pages"] == 2
        assert body["data"]["datasource_id"] == str(job.datasource_id)
