"""Redacting a conversation scrubs its text from the webhook outbox too: the stored payloads,
what a redelivery sends and what deliveries still to be made send, as the history keeps it
(`[redacted]`, no files), in that conversation of that org only."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from deskpilot.conversations import service as conversations
from deskpilot.db import transaction
from deskpilot.models import WebhookEvent
from deskpilot.webhooks import delivery as dispatch
from deskpilot.webhooks.addresses import rules_for
from deskpilot.webhooks.signing import SecretBox
from tests.webhooks.conftest import all_settled, create_webhook, eventually, stop_dispatcher
from tests.webhooks.receiver import Receiver

EVENTS = [
    "conversation.started",
    "conversation.contact_response",
    "conversation.ai_response",
    "conversation.handoff_to_human",
    "conversation.agent_response",
    "csat.score_submitted",
    "conversation.closed",
]
# What a whole redaction does to each payload: these fields become `[redacted]` (files go).
SCRUBBED = {
    "conversation.started": {"first_message": "[redacted]"},
    "conversation.contact_response": {"message": "[redacted]", "attachments": []},
    "conversation.ai_response": {"response": "[redacted]"},
    "conversation.handoff_to_human": {"summary": "[redacted]"},
    "conversation.agent_response": {"response": "[redacted]"},
    "csat.score_submitted": {"feedback": "[redacted]"},
    "conversation.closed": {"summary": "[redacted]"},
}


@dataclass(frozen=True)
class Conversation:
    id: str
    secret: str  # in every text of the conversation, never in the contact's details
    contact_message: str
    ai_message: str
    agent_message: str
    csat_answer: str


async def converse(client: httpx.AsyncClient, sessionmaker: Any, org: Any) -> Conversation:
    """A conversation that puts its secret in every payload field a redaction scrubs: the
    contact's message and file, the AI's and the agent's replies, the handoff summary, the
    CSAT comment and (through the summary) the close."""
    secret = f"Zanzibar-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/chat/sessions",
        json={"contact": {"name": "Ada Lovelace", "email": "ada@example.com"}, "verified": True},
        headers=org.headers,
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]

    async def send(**body: Any) -> str:
        response = await client.post(
            f"/chat/sessions/{session_id}/send", json=body, headers=org.headers
        )
        assert response.status_code == 200, response.text
        message_id: str = response.json()["data"]["message"]["id"]
        return message_id

    file = {"name": f"{secret}.png", "url": f"https://files.example.com/{secret}.png"}
    contact_message = await send(
        sender="contact", message={"text": f"I am {secret}", "attachments": [file]}
    )
    async with transaction(sessionmaker) as db:
        session = await conversations.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        ai = await conversations.append_event(
            db, session=session, type="message", sender_type="ai", text=f"Hello {secret}"
        )
        await conversations.hand_off(
            db,
            session=session,
            reasons=["insufficient_knowledge"],
            explanation=None,
            summary=f"{secret} asks for a human",
        )
    agent_message = await send(
        sender="agent", agent={"id": 7, "name": "Grace"}, message={"text": f"Hi {secret}"}
    )
    async with transaction(sessionmaker) as db:
        session = await conversations.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        csat = await conversations.append_event(
            db,
            session=session,
            type="csat_submitted",
            sender_type="contact",
            context={"score": 4, "feedback": f"Thanks from {secret}"},
        )
    closed = await client.patch(
        f"/chat/sessions/{session_id}", json={"status": "closed_resolved"}, headers=org.headers
    )
    assert closed.status_code == 200, closed.text
    return Conversation(
        session_id, secret, contact_message, str(ai.id), agent_message, str(csat.id)
    )


async def stored(sessionmaker: Any, conversation: Conversation) -> dict[str, dict[str, Any]]:
    """The conversation's events in the outbox, by name (one of each), oldest first."""
    async with sessionmaker() as db:
        rows = list(
            await db.scalars(
                sa.select(WebhookEvent)
                .where(WebhookEvent.conversation_id == uuid.UUID(conversation.id))
                .order_by(WebhookEvent.seq)
            )
        )
    return {row.event: {"id": str(row.id), "seq": row.seq, "data": row.data} for row in rows}


def scrubbed(
    events: dict[str, dict[str, Any]], names: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """`events` as a redaction of the whole conversation (or of the events `names`) leaves
    them: the scrubbed fields replaced, everything else as it was."""
    return {
        name: {**row, "data": row["data"] | SCRUBBED[name]}
        if names is None or name in names
        else row
        for name, row in events.items()
    }


async def redact(client: httpx.AsyncClient, org: Any, conversation: Conversation) -> None:
    response = await client.post(f"/chat/sessions/{conversation.id}/redact", headers=org.headers)
    assert response.status_code == 204, response.text


async def redact_one(
    client: httpx.AsyncClient, org: Any, conversation: Conversation, message_id: str
) -> None:
    response = await client.post(
        f"/chat/sessions/{conversation.id}/messages/{message_id}/redact", headers=org.headers
    )
    assert response.status_code == 204, response.text


class TestRedactingAConversation:
    async def test_its_stored_payloads_lose_the_text_and_keep_the_rest(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        talk = await converse(client, sessionmaker, org)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 deliveries")
        before = await stored(sessionmaker, talk)
        assert list(before) == EVENTS
        assert talk.secret in json.dumps([row["data"] for row in before.values()])

        await redact(client, org, talk)

        after = await stored(sessionmaker, talk)
        assert talk.secret not in json.dumps([row["data"] for row in after.values()])
        # Ids, order, counts, times, the score and the contact's details stay, as in the
        # history; only the copied texts and the files go.
        assert after == scrubbed(before)
        assert after["csat.score_submitted"]["data"]["score"] == 4
        assert after["conversation.started"]["data"]["contact"]["name"] == "Ada Lovelace"
        assert after["conversation.closed"]["data"]["contact"]["email"] == "ada@example.com"
        history = await client.get(f"/chat/sessions/{talk.id}/history", headers=org.headers)
        texts = {item["event"]["content"]["text"] for item in history.json()["items"]}
        assert "[redacted]" in texts and talk.secret not in json.dumps(history.json())

    async def test_the_delivery_log_stays_and_a_redelivery_sends_no_text(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        talk = await converse(client, sessionmaker, org)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 deliveries")
        log = f"/webhooks/{hook['id']}/deliveries"
        before = (await client.get(log, headers=org.headers)).json()

        await redact(client, org, talk)

        after = (await client.get(log, headers=org.headers)).json()
        assert after == before and talk.secret not in json.dumps(after)
        for delivery in before["items"]:
            again = await client.post(f"{log}/{delivery['id']}/redeliver", headers=org.headers)
            assert again.status_code == 202, again.text
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 14), what="7 redeliveries")
        first, second = receiver.received()[:7], receiver.received()[7:]
        assert all(talk.secret in request.body.decode() for request in first)
        assert sorted(r.event_id for r in second) == sorted(r.event_id for r in first)
        assert not [r.json["event"] for r in second if talk.secret in r.body.decode()]
        resent = {r.json["event"]: r.json["data"] for r in second}
        assert resent["conversation.contact_response"]["message"] == "[redacted]"
        assert resent["conversation.contact_response"]["attachments"] == []
        assert resent["conversation.started"]["first_message"] == "[redacted]"

    async def test_deliveries_not_yet_made_send_the_scrubbed_payload(
        self, app, client, org, sessionmaker, settings
    ):
        # The first attempt is refused (so it is retrying) and the rest wait behind it, in
        # order (pending), when the conversation is redacted.
        receiver = Receiver(script=lambda _r, count: (500 if count == 0 else 200, 0.0)).start()
        try:
            ctx = await stop_dispatcher(app)
            hook = await create_webhook(client, org, receiver.url)
            talk = await converse(client, sessionmaker, org)
            head, *rest = await dispatch.claim_due(sessionmaker, settings, limit=1)
            assert len(rest) == 6
            transport = rules_for(ctx).transport(max_connections=1)
            async with httpx.AsyncClient(transport=transport) as http:
                refused = await dispatch.attempt(
                    http, head, box=SecretBox(settings.secret_key()), settings=settings
                )
            assert refused.status_code == 500
            await dispatch.record_outcomes(sessionmaker, settings, [(head, refused)], rest)
            [before] = receiver.received(ok_only=False)
            assert talk.secret in before.body.decode()

            await redact(client, org, talk)
            dispatch.dispatcher_for(ctx).ensure_running()

            await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 sent")
            sent = receiver.received()
            assert [r.json["event"] for r in sent] == EVENTS
            assert sent[0].event_id == before.event_id and sent[0].attempt == 2
            assert not [r.json["event"] for r in sent if talk.secret in r.body.decode()]
            assert sent[1].json["data"]["message"] == "[redacted]"
            assert sent[1].json["data"]["attachments"] == []
        finally:
            receiver.stop()

    async def test_other_conversations_and_other_orgs_keep_their_payloads(
        self, client, org, other_org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        other_hook = await create_webhook(client, other_org, receiver.url)
        talk = await converse(client, sessionmaker, org)
        same_org = await converse(client, sessionmaker, org)
        elsewhere = await converse(client, sessionmaker, other_org)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 14), what="14 sent")
        await eventually(lambda: all_settled(sessionmaker, other_hook["id"], 7), what="7 sent")
        untouched = [await stored(sessionmaker, c) for c in (same_org, elsewhere)]
        before = await stored(sessionmaker, talk)

        await redact(client, org, talk)

        assert await stored(sessionmaker, talk) == scrubbed(before)
        assert [await stored(sessionmaker, c) for c in (same_org, elsewhere)] == untouched
        assert same_org.secret in json.dumps(untouched[0])
        assert elsewhere.secret in json.dumps(untouched[1])

    async def test_no_text_stays_in_events_of_a_deleted_endpoint(
        self, client, org, receiver, sessionmaker
    ):
        every = await create_webhook(client, org, receiver.url)
        closes = await create_webhook(client, org, receiver.url, ["conversation.closed"])
        talk = await converse(client, sessionmaker, org)
        await eventually(lambda: all_settled(sessionmaker, every["id"], 7), what="7 sent")
        await eventually(lambda: all_settled(sessionmaker, closes["id"], 1), what="1 sent")
        before = await stored(sessionmaker, talk)
        deleted = await client.delete(f"/webhooks/{every['id']}", headers=org.headers)
        assert deleted.status_code == 204

        await redact(client, org, talk)

        # What only the deleted endpoint had is gone; the close, which the other one has
        # too, stays and is scrubbed.
        after = await stored(sessionmaker, talk)
        assert after == scrubbed({"conversation.closed": before["conversation.closed"]})


class TestRedactingOneMessage:
    async def test_only_the_payloads_that_copy_that_message_lose_it(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        talk = await converse(client, sessionmaker, org)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 deliveries")
        before = await stored(sessionmaker, talk)

        # The agent's message did not start the conversation: the start keeps its text.
        await redact_one(client, org, talk, talk.agent_message)
        expected = scrubbed(before, ["conversation.agent_response"])
        assert await stored(sessionmaker, talk) == expected

        # The contact's first message did.
        await redact_one(client, org, talk, talk.contact_message)
        names = ["conversation.agent_response", "conversation.contact_response"]
        expected = scrubbed(before, [*names, "conversation.started"])
        assert await stored(sessionmaker, talk) == expected

    async def test_an_ai_reply_and_a_csat_answer_lose_their_text_and_the_summaries_stay(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url)
        talk = await converse(client, sessionmaker, org)
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 7), what="7 deliveries")
        before = await stored(sessionmaker, talk)

        await redact_one(client, org, talk, talk.ai_message)
        await redact_one(client, org, talk, talk.csat_answer)

        after = await stored(sessionmaker, talk)
        assert after == scrubbed(before, ["conversation.ai_response", "csat.score_submitted"])
        # As in the history, a single message's redaction leaves the summaries.
        assert talk.secret in after["conversation.closed"]["data"]["summary"]
