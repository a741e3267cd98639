"""Sending as the contact and as an agent, attachments, the history and redaction."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskpilot import tasks as registry
from deskpilot.conversations import service
from deskpilot.db import transaction
from deskpilot.models import ChatEvent, Contact
from tests.conversations.conftest import (
    ai_reply,
    create_session,
    history,
    read_session,
    send,
    sent_id,
)

ITEM_FIELDS = {"id", "created_at", "event"}
EVENT_FIELDS = {"type", "sender", "content", "attachments", "context", "sources"}


async def events_of(sessionmaker, session_id):
    async with transaction(sessionmaker) as db:
        return list(
            await db.scalars(
                sa.select(ChatEvent)
                .where(ChatEvent.session_id == uuid.UUID(session_id))
                .order_by(ChatEvent.seq)
            )
        )


def stored_files(data_dir: Path, org, session_id) -> list[Path]:
    folder = data_dir / "attachments" / org.id / session_id
    return sorted(folder.iterdir()) if folder.exists() else []


class TestSendAsContact:
    async def test_stores_the_message_and_answers_with_its_id(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        response = await send(client, org, session_id, "Where is my order?")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"success", "data"} and body["success"] is True
        message_id = body["data"]["message"]["id"]
        assert body["data"] == {"message": {"id": message_id}}
        [event] = await events_of(sessionmaker, session_id)
        assert str(event.id) == message_id
        assert (event.type, event.sender_type, event.text) == (
            "message",
            "contact",
            "Where is my order?",
        )
        assert event.reply_state == "pending" and event.seq == 1
        session = await read_session(client, org, session_id)
        assert session["last_message_at"] is not None
        assert session["updated_at"] >= session["created_at"]

    async def test_a_closed_session_refuses_contact_messages(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        await client.patch(
            f"/chat/sessions/{session_id}", json={"status": "closed_resolved"}, headers=org.headers
        )
        response = await send(client, org, session_id, "Hello?")
        assert response.status_code == 409
        assert response.json() == {
            "statusCode": 409,
            "message": "Chat session is closed",
            "error": "Conflict",
        }
        agent = await send(
            client, org, session_id, "We follow up.", sender="agent", agent={"id": 3}
        )
        assert agent.status_code == 200
        await client.patch(
            f"/chat/sessions/{session_id}", json={"status": "open"}, headers=org.headers
        )
        assert (await send(client, org, session_id, "Thanks!")).status_code == 200
        types = [e.type for e in await events_of(sessionmaker, session_id)]
        assert types == [
            "session_closed",
            "human_agent_joined",
            "message",
            "session_reopened",
            "message",
        ]

    async def test_contact_and_custom_data_are_merged(self, client, org, sessionmaker):
        session_id = await create_session(client, org, custom_data={"plan": "pro", "seats": 2})
        await sent_id(
            client,
            org,
            session_id,
            custom_data={"seats": 3, "region": "eu"},
            contact={"name": "Ann", "email": "ann@example.com", "custom_data": {"tier": "gold"}},
        )
        await sent_id(
            client,
            org,
            session_id,
            contact={"avatar_url": "https://cdn.example/ann.png", "custom_data": {"vip": "yes"}},
        )
        session = await read_session(client, org, session_id)
        assert session["custom_data"] == {"plan": "pro", "seats": 3, "region": "eu"}
        contact = session["contact"]
        assert (contact["name"], contact["email"]) == ("Ann", "ann@example.com")
        assert contact["custom_data"] == {"tier": "gold", "vip": "yes"}
        async with transaction(sessionmaker) as db:
            row = await db.get(Contact, uuid.UUID(contact["id"]))
            assert row.avatar_url == "https://cdn.example/ann.png"
        items = await history(client, org, session_id)
        assert [i["event"]["sender"] for i in items] == [{"type": "contact", "name": "Ann"}] * 2

    async def test_a_taken_email_conflicts(self, client, org):
        await client.post(
            "/contacts", json={"contact": {"email": "x@example.com"}}, headers=org.headers
        )
        session_id = await create_session(client, org, verified=True, contact={"name": "Y"})
        response = await send(client, org, session_id, contact={"email": "x@example.com"})
        assert response.status_code == 409
        assert await history(client, org, session_id) == []


class TestSendAsAgent:
    async def test_takeover_joined_and_message_events(self, client, org):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "I need help")
        agent = {"id": 7, "name": "Sam", "avatar_url": "https://cdn.example/sam.png"}
        await sent_id(
            client,
            org,
            session_id,
            "Hi, Sam here.",
            sender="agent",
            agent=agent,
            should_take_over_session_from_ai=True,
        )
        await sent_id(
            client,
            org,
            session_id,
            "Anything else?",
            sender="agent",
            agent=agent,
            should_take_over_session_from_ai=True,
        )
        events = [
            (i["event"]["type"], i["event"]["sender"]["type"], i["event"]["sender"]["name"])
            for i in await history(client, org, session_id)
        ]
        assert events == [
            ("message", "contact", None),
            ("human_agent_takeover", "human_agent", "Sam"),
            ("human_agent_joined", "human_agent", "Sam"),
            ("message", "human_agent", "Sam"),
            ("message", "human_agent", "Sam"),
        ]
        takeover = (await history(client, org, session_id))[1]["event"]
        assert takeover["human_agent_id"] == 7
        assert (await read_session(client, org, session_id))["assignee_id"] == 7

    async def test_without_takeover_the_agent_only_joins(self, client, org):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "Note", sender="agent", agent={"id": 9})
        types = [i["event"]["type"] for i in await history(client, org, session_id)]
        assert types == ["human_agent_joined", "message"]
        assert (await read_session(client, org, session_id))["assignee_id"] is None

    async def test_takeover_flag_is_ignored_for_contacts(self, client, org):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, should_take_over_session_from_ai=True)
        assert (await read_session(client, org, session_id))["assignee_id"] is None


class TestSendValidation:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                {"sender": "agent", "message": {"text": "Hi"}},
                "agent is required when sender is agent",
            ),
            ({"message": {"text": "Hi"}}, "sender is required"),
            ({"sender": "bot", "message": {"text": "Hi"}}, "sender must be one of the allowed"),
            ({"sender": "contact", "message": {"text": ""}}, "message.text must not be empty"),
            ({"sender": "contact", "message": {"text": "   "}}, "message.text must not be blank"),
            (
                {"sender": "contact", "message": {"text": "x" * 10_001}},
                "message.text must be at most 10000 characters",
            ),
            (
                {"sender": "contact", "message": {"text": "Hi"}, "custom_data": {"a": {"b": 1}}},
                "custom_data must be a flat object",
            ),
            (
                {"sender": "contact", "message": {"text": "Hi"}, "custom_data": {"a": [1]}},
                "custom_data must be a flat object",
            ),
            (
                {
                    "sender": "agent",
                    "message": {"text": "Hi"},
                    "agent": {"id": "seven", "name": "Sam"},
                },
                "agent.id must be an integer",
            ),
            (
                {
                    "sender": "contact",
                    "message": {"text": "Hi"},
                    "contact": {"custom_data": {"n": 1}},
                },
                "contact.custom_data.n must be a string",
            ),
            (
                {"sender": "contact", "message": {"text": "Hi", "attachments": [{"name": "a"}]}},
                "message.attachments.0 must give either url or base64",
            ),
            (
                {
                    "sender": "contact",
                    "message": {"text": "Hi", "attachments": [{"url": "ftp://x.example/a"}]},
                },
                "message.attachments.0.url must be an http or https URL",
            ),
            (
                {
                    "sender": "contact",
                    "message": {
                        "text": "Hi",
                        "attachments": [{"url": "https://x.example/a"}] * 11,
                    },
                },
                "message.attachments has the wrong number of items",
            ),
            (
                {
                    "sender": "contact",
                    "message": {"text": "Hi", "attachments": [{"base64": "not base64!"}]},
                },
                "message.attachments.0.base64 must be valid base64",
            ),
        ],
    )
    async def test_errors_name_the_field(self, client, org, body, message):
        session_id = await create_session(client, org, custom_data={"k": "v"})
        response = await client.post(
            f"/chat/sessions/{session_id}/send", json=body, headers=org.headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "Bad Request"
        assert response.json()["message"].startswith(message)
        assert await history(client, org, session_id) == []
        assert (await read_session(client, org, session_id))["custom_data"] == {"k": "v"}

    async def test_merged_custom_data_over_the_key_limit(self, client, org):
        session_id = await create_session(client, org, custom_data={f"a{i}": i for i in range(40)})
        response = await send(client, org, session_id, custom_data={f"b{i}": i for i in range(11)})
        assert response.status_code == 400
        assert response.json()["message"] == "custom_data must have at most 50 keys"


class TestAttachments:
    async def test_url_and_base64_entries(self, client, org, data_dir, sessionmaker):
        session_id = await create_session(client, org)
        pdf = b"%PDF-1.4 invoice"
        await sent_id(
            client,
            org,
            session_id,
            "See attached",
            message={
                "attachments": [
                    {"url": "https://files.example/docs/Invoice%2042.pdf?sig=1"},
                    {
                        "name": "../../etc/invoice.pdf",
                        "base64": base64.b64encode(pdf).decode(),
                        "mime_type": "application/pdf",
                    },
                    {"base64": "data:text/plain;base64," + base64.b64encode(b"hi").decode()},
                ]
            },
        )
        [item] = await history(client, org, session_id)
        linked, stored, note = item["event"]["attachments"]
        for entry in (linked, stored, note):
            assert set(entry) == {"id", "name", "size", "type", "url"}
        assert linked["url"] == "https://files.example/docs/Invoice%2042.pdf?sig=1"
        assert (linked["name"], linked["size"], linked["type"]) == (
            "Invoice 42.pdf",
            None,
            "application/pdf",
        )
        assert (stored["name"], stored["size"], stored["type"]) == (
            "invoice.pdf",
            len(pdf),
            "application/pdf",
        )
        assert stored["url"] == (
            f"http://testserver/chat/sessions/{session_id}/attachments/{stored['id']}"
        )
        assert (note["name"], note["type"], note["size"]) == ("attachment", "text/plain", 2)
        files = stored_files(data_dir, org, session_id)
        assert len(files) == 2 and pdf in {f.read_bytes() for f in files}
        download = await client.get(
            stored["url"].removeprefix("http://testserver"), headers=org.headers
        )
        assert download.status_code == 200
        assert download.content == pdf
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"].startswith("attachment;")
        missing = await client.get(
            f"/chat/sessions/{session_id}/attachments/{linked['id']}", headers=org.headers
        )
        assert missing.status_code == 404
        assert missing.json()["message"] == "Attachment not found"

    async def test_files_over_the_limit_are_refused(self, client, org, data_dir):
        session_id = await create_session(client, org)
        too_big = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()
        response = await send(
            client, org, session_id, message={"attachments": [{"base64": too_big}]}
        )
        assert response.status_code == 413
        assert response.json()["message"] == (
            "message.attachments.0.base64 must be at most 10485760 bytes"
        )
        body = "x" * (16 * 1024 * 1024)
        response = await send(client, org, session_id, message={"attachments": [{"base64": body}]})
        assert response.status_code == 413
        assert response.json()["error"] == "Payload Too Large"
        assert stored_files(data_dir, org, session_id) == []
        assert await history(client, org, session_id) == []

    async def test_a_refused_message_leaves_no_file(self, client, org, data_dir):
        session_id = await create_session(client, org)
        await client.patch(
            f"/chat/sessions/{session_id}", json={"status": "closed_resolved"}, headers=org.headers
        )
        response = await send(
            client, org, session_id, message={"attachments": [{"base64": "aGk="}]}
        )
        assert response.status_code == 409
        assert stored_files(data_dir, org, session_id) == []


class TestHistory:
    async def test_items_have_the_documented_shape_oldest_first(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "Question")
        await ai_reply(sessionmaker, org, session_id, "Answer")
        items = await history(client, org, session_id)
        for item in items:
            assert set(item) == ITEM_FIELDS
            assert set(item["event"]) == EVENT_FIELDS
            assert item["created_at"].endswith("Z")
        first, second = items
        assert first["event"] == {
            "type": "message",
            "sender": {"type": "contact", "name": None},
            "content": {"type": "text", "text": "Question"},
            "attachments": [],
            "context": None,
            "sources": [],
        }
        assert second["event"]["sender"]["type"] == "ai"
        assert second["event"]["content"]["text"] == "Answer"
        assert first["created_at"] <= second["created_at"]

    async def test_cursor_pages_by_sequence(self, client, org):
        session_id = await create_session(client, org)
        for n in range(5):
            await sent_id(client, org, session_id, f"m{n}")
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await client.get(
                f"/chat/sessions/{session_id}/history", params=params, headers=org.headers
            )
            body = response.json()
            seen.extend(i["event"]["content"]["text"] for i in body["items"])
            cursor = body["next"]
            if cursor is None:
                break
        assert seen == ["m0", "m1", "m2", "m3", "m4"]
        bad = await client.get(
            f"/chat/sessions/{session_id}/history?cursor=bogus", headers=org.headers
        )
        assert bad.status_code == 400
        assert bad.json()["message"] == "cursor is not valid"

    async def test_internal_comments_are_listed_on_the_org_api(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        async with transaction(sessionmaker) as db:
            session = await service.get_session(
                db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
            )
            await service.append_event(
                db,
                session=session,
                type="human_agent_comment",
                sender_type="human_agent",
                sender_id=4,
                sender_name="Kim",
                text="VIP customer, be quick",
            )
        [item] = await history(client, org, session_id)
        assert item["event"]["type"] == "human_agent_comment"
        assert item["event"]["content"]["text"] == "VIP customer, be quick"
        session = await read_session(client, org, session_id)
        assert session["last_message_at"] is None


class TestRedaction:
    async def test_one_message(self, client, org, sessionmaker, data_dir):
        session_id = await create_session(client, org)
        secret = await sent_id(
            client,
            org,
            session_id,
            "My card is 4111 1111 1111 1111",
            message={"attachments": [{"name": "card.png", "base64": "aGk="}]},
        )
        await sent_id(client, org, session_id, "Thanks")
        assert len(stored_files(data_dir, org, session_id)) == 1
        response = await client.post(
            f"/chat/sessions/{session_id}/messages/{secret}/redact", headers=org.headers
        )
        assert response.status_code == 204 and response.content == b""
        first, second = await events_of(sessionmaker, session_id)
        assert (first.text, first.attachments, first.redacted) == ("[redacted]", None, True)
        assert (second.text, second.redacted) == ("Thanks", False)
        assert stored_files(data_dir, org, session_id) == []
        items = await history(client, org, session_id)
        assert items[0]["event"]["content"]["text"] == "[redacted]"
        assert items[0]["event"]["attachments"] == []
        again = await client.post(
            f"/chat/sessions/{session_id}/messages/{secret}/redact", headers=org.headers
        )
        assert again.status_code == 204
        unknown = await client.post(
            f"/chat/sessions/{session_id}/messages/{uuid.uuid4()}/redact", headers=org.headers
        )
        assert unknown.status_code == 404
        assert unknown.json()["message"] == "Message not found"

    async def test_the_whole_session(self, client, org, sessionmaker, data_dir):
        session_id = await create_session(client, org)
        await sent_id(
            client,
            org,
            session_id,
            "I live at 1 Main St",
            message={"attachments": [{"base64": "aGk="}, {"url": "https://x.example/a.png"}]},
        )
        await ai_reply(sessionmaker, org, session_id, "Noted, 1 Main St.")
        await client.patch(
            f"/chat/sessions/{session_id}", json={"status": "closed_resolved"}, headers=org.headers
        )
        response = await client.post(f"/chat/sessions/{session_id}/redact", headers=org.headers)
        assert response.status_code == 204
        events = await events_of(sessionmaker, session_id)
        assert [e.text for e in events] == ["[redacted]", "[redacted]", None]
        assert all(e.redacted and e.attachments is None for e in events)
        assert stored_files(data_dir, org, session_id) == []
        async with transaction(sessionmaker) as db:
            raw = await db.scalar(
                sa.select(sa.func.count())
                .select_from(ChatEvent)
                .where(ChatEvent.session_id == uuid.UUID(session_id), ChatEvent.text.like("%Main%"))
            )
        assert raw == 0
        found = await client.post(
            "/chat/sessions/filter", json={"filters": {"search": "main st"}}, headers=org.headers
        )
        assert found.json()["data"] == []


class TestAiTurnRequest:
    async def test_a_contact_message_enqueues_the_turn_after_commit(
        self, app, client, org, sessionmaker, monkeypatch
    ):
        async def agent_turn(ctx, **kwargs):
            pass

        monkeypatch.setitem(registry.TASKS, "agent_turn", agent_turn)
        queued = []

        async def enqueue(task, **kwargs):
            # After commit: the message is already visible to another connection.
            async with transaction(sessionmaker) as db:
                event = await db.get(ChatEvent, uuid.UUID(kwargs["event_id"]))
            queued.append((task, kwargs, event is not None and event.reply_state))

        monkeypatch.setattr(app.state.deskpilot.queue, "enqueue", enqueue)
        session_id = await create_session(client, org)
        message_id = await sent_id(client, org, session_id, "Hi")
        await sent_id(client, org, session_id, "Agent here", sender="agent", agent={"id": 1})
        assert queued == [
            (
                "agent_turn",
                {"org_id": org.id, "session_id": session_id, "event_id": message_id},
                "pending",
            )
        ]

    async def test_nothing_is_enqueued_without_an_agent_task(self, app, client, org, monkeypatch):
        queued = []

        async def enqueue(task, **kwargs):
            queued.append(task)

        monkeypatch.setattr(app.state.deskpilot.queue, "enqueue", enqueue)
        session_id = await create_session(client, org)
        await sent_id(client, org, session_id, "Hi")
        assert queued == []
