"""Widget API endpoints (API.md 3.12, 4): credentials, config and prelude, sessions and
their isolation, history and polling, send without the AI, resolve, vote, CSAT, uploads and
rate limits. The AI's real answers are in test_send_ai.py."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.models import ChatEvent
from deskpilot.widget.tokens import mint_contact_token
from tests.factories import make_org
from tests.widget.conftest import BASE, Browser, assert_error, unverified, verified

pytestmark = pytest.mark.usefixtures("no_ai")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class TestCredentials:
    async def test_missing_or_unknown_bot_token_is_401(self, client, org) -> None:
        assert_error(await client.get(f"{BASE}/config"), 401)
        assert_error(await client.get(f"{BASE}/config", headers={"X-Bot-Token": "0" * 32}), 401)

    async def test_contact_scoped_calls_need_the_contact_token(self, client, org) -> None:
        response = await client.get(f"{BASE}/sessions", headers={"X-Bot-Token": org.widget_token})
        assert_error(response, 401)

    async def test_token_of_one_org_with_another_orgs_bot_token_is_401(
        self, client, org, other_org
    ) -> None:
        browser = await unverified(client, org)
        await browser.create_session()
        elsewhere = Browser(client, other_org.widget_token, browser.token)
        assert_error(await elsewhere.get("/sessions"), 401)

    async def test_expired_contact_token_is_401(self, client, org, app) -> None:
        browser = await unverified(client, org)
        contact_id = await _contact_id(browser)
        expired = mint_contact_token(
            app.state.deskpilot.secret_key,
            org_id=uuid.UUID(org.id),
            contact_id=contact_id,
            verified=True,
            now=datetime.now(UTC) - timedelta(hours=25),
        )
        body = assert_error(await Browser(client, org.widget_token, expired).get("/sessions"), 401)
        assert "expired" in body["message"]

    async def test_forged_contact_token_is_401(self, client, org) -> None:
        browser = await unverified(client, org)
        header, payload, _ = browser.token.split(".")
        forged = Browser(client, org.widget_token, f"{header}.{payload}.AAAA")
        assert_error(await forged.get("/sessions"), 401)

    async def test_authenticate_user_needs_the_org_key(self, client, org) -> None:
        response = await client.post(
            "/widget/authenticate-user",
            json={"email": "ada@example.com"},
            headers={"X-Bot-Token": org.widget_token},
        )
        assert_error(response, 401)

    async def test_authenticate_user_writes_verified_contact_data(self, client, org) -> None:
        response = await client.post(
            "/widget/authenticate-user",
            json={
                "email": "Ada@Example.com",
                "name": "Ada",
                "customData": {"plan": "pro"},
                "chat_context": "Ordered a tent last week",
            },
            headers=org.headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"token", "contact"}
        contact = (
            await client.get(f"/contacts/{body['contact']['id']}", headers=org.headers)
        ).json()
        assert contact["email"] == "Ada@example.com" and contact["name"] == "Ada"
        assert contact["custom_data"] == {"plan": "pro"}

    async def test_authenticate_user_validates_the_body(self, client, org) -> None:
        response = await client.post(
            "/widget/authenticate-user", json={"name": "No email"}, headers=org.headers
        )
        assert assert_error(response, 400)["message"] == "email is required"

    async def test_create_unverified_keeps_claims_apart(self, client, org) -> None:
        browser = await unverified(client, org, email="bob@example.com", non_verified_name="Bob")
        contact_id = await _contact_id(browser)
        contact = (await client.get(f"/contacts/{contact_id}", headers=org.headers)).json()
        assert contact["email"] is None and contact["non_verified_name"] == "Bob"
        assert contact["non_verified_email"] == "bob@example.com"


async def _contact_id(browser: Browser) -> uuid.UUID:
    """The contact behind a browser: its token's subject."""
    payload = browser.token.split(".")[1]
    return uuid.UUID(json.loads(base64.urlsafe_b64decode(payload + "==="))["sub"])


class TestConfigAndPrelude:
    async def test_config(self, client, org) -> None:
        response = await client.get(f"{BASE}/config", headers={"X-Bot-Token": org.widget_token})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "org": {"id": org.id, "name": "Bookshop"},
            "sessionsPollingIntervalSeconds": 30,
            "sessionPollingIntervalSeconds": 5,
            "modes": [],
            "push": {"sse": True},
        }
        assert response.headers["X-RateLimit-Limit"] == "120"

    async def test_prelude_without_schedule_is_always_open(self, client, org) -> None:
        response = await client.get(f"{BASE}/prelude", headers={"X-Bot-Token": org.widget_token})
        assert response.json() == {
            "initialQuestions": [],
            "aiEnabled": True,
            "officeHours": {},
            "officeHoursTimezone": None,
            "organizationName": "Bookshop",
            "officeHoursStatus": {"isOpen": True, "nextChangeAt": None},
            "initialMessages": [],
            "botName": None,
            "botAvatarUrl": None,
            "primaryColor": None,
        }

    async def test_prelude_carries_the_orgs_widget_settings(self, client, org) -> None:
        settings = {
            "initial_questions": ["Where is my order?", "How do refunds work?"],
            "initial_messages": ["Hi! I'm the Bookshop assistant."],
            "bot_name": "Paige",
            "bot_avatar_url": "https://cdn.example.com/paige.png",
            "primary_color": "#1A7F5A",
        }
        patched = await client.patch("/widget-settings", json=settings, headers=org.headers)
        assert patched.status_code == 200, patched.text
        body = (
            await client.get(f"{BASE}/prelude", headers={"X-Bot-Token": org.widget_token})
        ).json()
        assert body["initialQuestions"] == ["Where is my order?", "How do refunds work?"]
        assert body["initialMessages"] == ["Hi! I'm the Bookshop assistant."]
        assert body["botName"] == "Paige"
        assert body["botAvatarUrl"] == "https://cdn.example.com/paige.png"
        assert body["primaryColor"] == "#1a7f5a"

    async def test_prelude_maps_office_hours_and_autopilot(self, client, org) -> None:
        schedule = {
            "name": "Business hours",
            "iana_timezone": "Europe/Berlin",
            "shifts": [
                {
                    "day_of_week": "monday_to_friday",
                    "start_time": "09:00:00",
                    "end_time": "17:00:00",
                },
                {
                    "day_of_week": "saturday_to_sunday",
                    "start_time": "10:00:00",
                    "end_time": "24:00:00",
                },
            ],
        }
        created = await client.post("/office-hours", json=schedule, headers=org.headers)
        assert created.status_code == 201, created.text
        patched = await client.patch(
            "/autopilot", json={"channels": {"web": {"mode": "off"}}}, headers=org.headers
        )
        assert patched.status_code == 200, patched.text
        body = (
            await client.get(f"{BASE}/prelude", headers={"X-Bot-Token": org.widget_token})
        ).json()
        assert body["aiEnabled"] is False
        assert body["officeHoursTimezone"] == "Europe/Berlin"
        assert body["officeHours"] == {
            "WeekDays": {"from": "09:00", "to": "17:00"},
            "saturday": {"from": "10:00", "to": "24:00"},
            "sunday": {"from": "10:00", "to": "24:00"},
        }
        assert body["officeHoursStatus"]["nextChangeAt"] is not None


class TestSessions:
    async def test_create_session_returns_a_widget_session(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session(customData={"page": "checkout", "cart": 3})
        assert set(session) == {
            "id", "ticketNumber", "createdAt", "updatedAt", "isHandedOff", "isOpened",
            "assignee", "channel", "isVerified", "lastMessage", "modeId",
            "latestStateCheckpointPayload",
        }  # fmt: skip
        assert session["isOpened"] is True and session["isVerified"] is False
        assert session["channel"] == "web" and session["assignee"]["kind"] == "ai"
        org_view = (await client.get(f"/chat/sessions/{session['id']}", headers=org.headers)).json()
        assert org_view["channel"] == {"type": "web"}
        assert org_view["custom_data"] == {"page": "checkout", "cart": 3}

    async def test_nested_custom_data_is_400(self, client, org) -> None:
        browser = await unverified(client, org)
        response = await browser.post("/create-session", json={"customData": {"a": {"b": 1}}})
        assert_error(response, 400)

    async def test_list_shows_only_the_contacts_own_sessions(self, client, org, other_org) -> None:
        ada, bob = await unverified(client, org), await unverified(client, org)
        first = await ada.create_session()
        second = await ada.create_session()
        await bob.create_session()
        await (await unverified(client, other_org)).create_session()
        page = (await ada.get("/sessions")).json()
        assert [item["id"] for item in page["items"]] == [second["id"], first["id"]]
        assert page["next"] is None

    async def test_list_pages_and_filters_by_custom_data(self, client, org) -> None:
        browser = await unverified(client, org)
        kept = await browser.create_session(customData={"shop": "berlin"})
        await browser.create_session(customData={"shop": "paris"})
        await browser.create_session()
        filtered = await browser.get("/sessions", params={"filters": '{"shop": "berlin"}'})
        assert [item["id"] for item in filtered.json()["items"]] == [kept["id"]]
        first = (await browser.get("/sessions", params={"limit": 2})).json()
        rest = (await browser.get("/sessions", params={"cursor": first["next"]})).json()
        assert len(first["items"]) == 2 and [i["id"] for i in rest["items"]] == [kept["id"]]
        bad = await browser.get("/sessions", params={"filters": "[1]"})
        assert_error(bad, 400)

    async def test_another_contact_cannot_read_a_session(self, client, org) -> None:
        ada, bob = await unverified(client, org), await unverified(client, org)
        session = await ada.create_session()
        assert_error(await bob.get(f"/session/history/{session['id']}"), 404)
        assert_error(await bob.get(f"/poll/{session['id']}"), 404)
        assert_error(await bob.post("/session/resolve", json={"session_id": session["id"]}), 404)
        result = await bob.send(session["id"], "Let me in")
        assert result == {
            "success": False,
            "error": {"code": "session_not_found", "message": "Chat session not found"},
        }

    async def test_verified_contact_sees_its_sessions_on_every_device(self, client, org) -> None:
        laptop = await verified(client, org, "ada@example.com")
        session = await laptop.create_session()
        assert session["isVerified"] is True
        phone = await verified(client, org, "ADA@example.com", name="Ada")
        assert [item["id"] for item in (await phone.get("/sessions")).json()["items"]] == [
            session["id"]
        ]
        assert (await phone.get(f"/poll/{session['id']}")).status_code == 200

    async def test_claiming_a_verified_email_does_not_open_its_sessions(self, client, org) -> None:
        owner = await verified(client, org, "ada@example.com")
        session = await owner.create_session()
        impostor = await unverified(client, org, email="ada@example.com")
        assert (await impostor.get("/sessions")).json()["items"] == []
        assert_error(await impostor.get(f"/session/history/{session['id']}"), 404)

    async def test_unverified_sessions_stay_on_their_device(self, client, org) -> None:
        first = await unverified(client, org, email="bob@example.com")
        await first.create_session()
        second = await unverified(client, org, email="bob@example.com")
        assert (await second.get("/sessions")).json()["items"] == []


class TestHistoryAndPoll:
    async def test_history_after_a_timestamp(self, client, org) -> None:
        browser = await unverified(client, org, non_verified_name="Bob")
        session = await browser.create_session()
        await browser.send(session["id"], "First question")
        items = await browser.history(session["id"])
        assert [(i["type"], i["sender"]["kind"], i["content"]["text"]) for i in items] == [
            ("message", "user", "First question")
        ]
        assert items[0]["sender"]["name"] == "Bob"
        assert set(items[0]) >= {"publicId", "sentAt", "attachments", "systemMessagePayload"}
        await browser.send(session["id"], "Second question")
        newer = await browser.history(session["id"], lastMessageTimestamp=items[0]["sentAt"])
        assert [i["content"]["text"] for i in newer] == ["Second question"]

    async def test_send_returns_the_id_of_the_contacts_own_message(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        result = await browser.send(session["id"], "Hello")
        items = await browser.history(session["id"])
        assert result["messageId"] == items[-1]["publicId"]

    async def test_the_assigned_agent_shows_with_name_and_avatar(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        await browser.send(session["id"], "Hello")
        avatar = "https://cdn.example.com/grace.png"
        response = await client.post(
            f"/chat/sessions/{session['id']}/send",
            json={
                "sender": "agent",
                "agent": {"id": 7, "name": "Grace", "avatar_url": avatar},
                "message": {"text": "Hi, Grace here."},
                "should_take_over_session_from_ai": True,
            },
            headers=org.headers,
        )
        assert response.status_code == 200, response.text
        poll = (await browser.get(f"/poll/{session['id']}")).json()
        assert poll["session"]["assignee"] == {
            "kind": "human",
            "name": "Grace",
            "avatarUrl": avatar,
        }
        reply = poll["history"][-1]
        assert reply["type"] == "agent_message"
        assert reply["sender"] == {"kind": "agent", "name": "Grace", "avatar": avatar}

    async def test_poll_returns_session_and_new_messages(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        await browser.send(session["id"], "Hello")
        body = (await browser.get(f"/poll/{session['id']}")).json()
        assert body["session"]["lastMessage"] == "Hello"
        assert [i["content"]["text"] for i in body["history"]] == ["Hello"]
        last = body["history"][-1]["sentAt"]
        later = (
            await browser.get(f"/poll/{session['id']}", params={"lastMessageTimestamp": last})
        ).json()
        assert later["history"] == []

    async def test_internal_comments_are_never_shown(self, client, org, sessionmaker) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        from deskpilot.conversations import service
        from deskpilot.db import transaction

        async with transaction(sessionmaker) as db:
            chat = await service.get_session(
                db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session["id"])
            )
            await service.append_event(
                db, session=chat, type="human_agent_comment", sender_type="human_agent",
                text="internal note",
            )  # fmt: skip
        assert await browser.history(session["id"]) == []


class TestSend:
    async def test_same_uuid_twice_stores_one_message(self, client, org, sessionmaker) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        message_uuid = str(uuid.uuid4())
        first = await browser.send(session["id"], "Where is my order?", uuid=message_uuid)
        again = await browser.send(session["id"], "Where is my order?", uuid=message_uuid)
        assert first["success"] is True and first["code"] == "ai_response_pending"
        assert again == first | {"session": again["session"]}
        async with sessionmaker() as db:
            count = await db.scalar(
                sa.select(sa.func.count())
                .select_from(ChatEvent)
                .where(
                    ChatEvent.session_id == uuid.UUID(session["id"]), ChatEvent.type == "message"
                )
            )
        assert count == 1

    async def test_closed_session_refuses_messages(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        resolved = await browser.post("/session/resolve", json={"session_id": session["id"]})
        assert resolved.json() == {"success": True}
        result = await browser.send(session["id"], "One more thing")
        assert result == {
            "success": False,
            "error": {"code": "session_closed", "message": "Chat session is closed"},
        }

    async def test_bot_token_in_the_body_must_match(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        result = await browser.send(session["id"], "Hi", bot_token="f" * 32)
        assert result["success"] is False and result["error"]["code"] == "invalid_request"

    async def test_invalid_body_is_400(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        response = await browser.post(
            "/chat/send",
            json={"content": "", "session_id": session["id"], "uuid": str(uuid.uuid4()),
                  "bot_token": org.widget_token},
        )  # fmt: skip
        assert_error(response, 400)

    async def test_initial_messages_come_before_the_first_message(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        greeting = [{"uuid": str(uuid.uuid4()), "content": "Hi! How can I help?"}]
        await browser.send(session["id"], "Hello", initial_messages=greeting)
        await browser.send(session["id"], "Again", initial_messages=greeting)
        items = await browser.history(session["id"])
        assert [(i["sender"]["kind"], i["content"]["text"]) for i in items] == [
            ("ai", "Hi! How can I help?"),
            ("user", "Hello"),
            ("user", "Again"),
        ]

    async def test_custom_data_and_client_context_are_kept(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session(customData={"a": "1"})
        await browser.send(
            session["id"], "Hi", custom_data={"b": 2}, clientContext={"page": "/cart"}
        )
        org_view = (await client.get(f"/chat/sessions/{session['id']}", headers=org.headers)).json()
        assert org_view["custom_data"] == {"a": "1", "b": 2}
        history = (
            await client.get(f"/chat/sessions/{session['id']}/history", headers=org.headers)
        ).json()
        assert history["items"][0]["event"]["context"] == {"page": "/cart"}


async def _greeted_session(browser: Browser) -> tuple[str, str]:
    """A session with one AI message (an initial greeting) and the contact's reply."""
    session = await browser.create_session()
    greeting = [{"uuid": str(uuid.uuid4()), "content": "Hi! How can I help?"}]
    await browser.send(session["id"], "Hello", initial_messages=greeting)
    items = await browser.history(session["id"])
    return session["id"], items[0]["publicId"]


class TestResolveVoteCsat:
    async def test_resolve_closes_as_resolved_by_the_contact(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        await browser.post("/session/resolve", json={"session_id": session["id"]})
        org_view = (await client.get(f"/chat/sessions/{session['id']}", headers=org.headers)).json()
        assert org_view["status"] == "closed_resolved"
        assert [i["type"] for i in await browser.history(session["id"])] == [
            "user_confirmed_the_session_resolved"
        ]
        poll = (await browser.get(f"/poll/{session['id']}")).json()
        assert poll["session"]["isOpened"] is False

    async def test_vote_on_an_ai_message(self, client, org) -> None:
        browser = await unverified(client, org)
        session_id, ai_message = await _greeted_session(browser)
        body = {"action": "upvote", "sessionId": session_id, "messagePublicId": ai_message}
        response = await browser.post("/chat/vote", json=body)
        assert response.json() == {"messagePublicId": ai_message, "success": True}
        again = await browser.post("/chat/vote", json=body | {"action": "downvote"})
        assert again.status_code == 200

    async def test_vote_on_the_contacts_own_message_is_404(self, client, org) -> None:
        browser = await unverified(client, org)
        session_id, _ = await _greeted_session(browser)
        own = (await browser.history(session_id))[-1]["publicId"]
        body = {"action": "upvote", "sessionId": session_id, "messagePublicId": own}
        assert_error(await browser.post("/chat/vote", json=body), 404)
        bad = await browser.post("/chat/vote", json=body | {"action": "love"})
        assert_error(bad, 400)

    async def test_csat_once_per_session(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        body = {"session_id": session["id"], "score": 4, "feedback": "Quick help"}
        first = await browser.post("/submit-csat", json=body)
        assert first.json() == {"success": True}
        assert_error(await browser.post("/submit-csat", json=body), 409)
        items = await browser.history(session["id"])
        assert [i["type"] for i in items] == ["csat_submitted"]
        org_items = (
            await client.get(f"/chat/sessions/{session['id']}/history", headers=org.headers)
        ).json()["items"]
        assert org_items[0]["event"]["context"]["score"] == 4

    async def test_csat_score_is_1_to_5(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        response = await browser.post(
            "/submit-csat", json={"session_id": session["id"], "score": 6}
        )
        assert assert_error(response, 400)["message"] == "score must not be greater than 5"


class TestCheckpointAndActions:
    async def test_checkpoint_is_echoed_on_the_session(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        payload = {"step": 2, "answers": {"plan": "pro"}}
        saved = await browser.post(
            "/checkpoint", json={"session_id": session["id"], "payload": payload}
        )
        assert saved.json() == {"success": True}
        poll = (await browser.get(f"/poll/{session['id']}")).json()
        assert poll["session"]["latestStateCheckpointPayload"] == payload

    async def test_checkpoint_of_another_contacts_session_is_404(self, client, org) -> None:
        owner = await unverified(client, org)
        session = await owner.create_session()
        stranger = await unverified(client, org)
        response = await stranger.post(
            "/checkpoint", json={"session_id": session["id"], "payload": {"x": 1}}
        )
        assert_error(response, 404)
        poll = (await owner.get(f"/poll/{session['id']}")).json()
        assert poll["session"]["latestStateCheckpointPayload"] is None

    async def test_oversized_checkpoint_is_413(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        response = await browser.post(
            "/checkpoint", json={"session_id": session["id"], "payload": {"x": "y" * 40_000}}
        )
        assert_error(response, 413)

    async def test_action_execute_is_not_built_yet(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        body = {"sessionId": session["id"], "formMessageId": "m1", "actionId": "a1"}
        body["request"] = {"queryParams": {}, "pathParams": {}, "bodyParams": {}, "headers": {}}
        assert assert_error(await browser.post("/action/execute", json=body), 501)["error"] == (
            "Not Implemented"
        )
        body["sessionId"] = str(uuid.uuid4())
        assert_error(await browser.post("/action/execute", json=body), 404)


class TestCors:
    async def test_preflight_from_any_origin_allows_the_widget_headers(self, client) -> None:
        response = await client.options(
            f"{BASE}/chat/send",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-bot-token, authorization, content-type",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        allowed = response.headers["access-control-allow-headers"].lower()
        for header in ("x-bot-token", "authorization", "content-type", "last-event-id"):
            assert header in allowed
        assert "access-control-allow-credentials" not in response.headers

    async def test_errors_carry_cors_headers_so_the_widget_can_read_them(self, client) -> None:
        response = await client.get(
            f"{BASE}/config", headers={"Origin": "https://shop.example", "X-Bot-Token": "nope"}
        )
        assert_error(response, 401)
        assert response.headers["access-control-allow-origin"] == "*"

    async def test_org_api_answers_no_cross_origin_requests(self, client, org) -> None:
        response = await client.get(
            "/org", headers={**org.headers, "Origin": "https://evil.example"}
        )
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
        preflight = await client.options(
            "/org",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers


class TestUploads:
    async def test_upload_send_and_download(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        response = await browser.post(
            "/upload", files={"file": ("../../photo.png", PNG, "image/png")}
        )
        assert response.status_code == 200, response.text
        upload: dict[str, Any] = response.json()
        assert upload["fileName"] == "photo.png"
        own = await client.get(upload["fileUrl"], headers=browser.headers)
        assert own.status_code == 200 and own.content == PNG
        assert own.headers["content-security-policy"] == "sandbox"
        stranger = await unverified(client, org)
        assert_error(await client.get(upload["fileUrl"], headers=stranger.headers), 404)

        attachment = {"id": upload["id"], "name": "photo.png", "size": len(PNG),
                      "type": "image/png", "url": upload["fileUrl"]}  # fmt: skip
        await browser.send(session["id"], "See the photo", attachments=[attachment])
        sent = (await browser.history(session["id"]))[0]["attachments"][0]
        assert sent["name"] == "photo.png" and sent["size"] == len(PNG)
        fetched = await client.get(sent["url"], headers=browser.headers)
        assert fetched.status_code == 200 and fetched.content == PNG
        assert_error(await client.get(sent["url"], headers=stranger.headers), 404)

    async def test_someone_elses_upload_cannot_be_attached(self, client, org) -> None:
        owner, other = await unverified(client, org), await unverified(client, org)
        upload = (
            await owner.post("/upload/v2", files={"file": ("a.txt", b"hello", "text/plain")})
        ).json()
        session = await other.create_session()
        result = await other.send(session["id"], "Hi", attachments=[{"id": upload["id"]}])
        assert result["success"] is False and result["error"]["code"] == "invalid_request"

    async def test_upload_over_10_mib_is_413(self, client, org) -> None:
        browser = await unverified(client, org)
        big = b"x" * (10 * 1024 * 1024 + 1)
        response = await browser.post("/upload", files={"file": ("big.txt", big, "text/plain")})
        assert_error(response, 413)

    async def test_upload_of_1_mib_plus_is_accepted(self, client, org) -> None:
        browser = await unverified(client, org)
        data = b"y" * (2 * 1024 * 1024)
        response = await browser.post("/upload", files={"file": ("log.txt", data, "text/plain")})
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        ("name", "data", "mime_type"),
        [
            ("page.html", b"<script>alert(1)</script>", "text/html"),
            ("logo.svg", b"<svg/>", "image/svg+xml"),
            ("fake.png", b"<html>", "image/png"),
        ],
    )
    async def test_disallowed_file_types_are_400(self, client, org, name, data, mime_type) -> None:
        browser = await unverified(client, org)
        response = await browser.post("/upload", files={"file": (name, data, mime_type)})
        assert_error(response, 400)


class TestRateLimits:
    async def test_create_unverified_is_limited_per_ip(self, client, org) -> None:
        for _ in range(10):
            await unverified(client, org)
        response = await client.post(
            f"{BASE}/contact/create-unverified", json={}, headers={"X-Bot-Token": org.widget_token}
        )
        assert_error(response, 429)
        assert 1 <= int(response.headers["Retry-After"]) <= 60

    async def test_widget_calls_are_limited_per_token_and_ip(self, client, org) -> None:
        headers = {"X-Bot-Token": org.widget_token}
        for _ in range(120):
            assert (await client.get(f"{BASE}/config", headers=headers)).status_code == 200
        response = await client.get(f"{BASE}/config", headers=headers)
        assert_error(response, 429)
        assert response.headers["Retry-After"]
        other = await make_org(client, org.partner, name="Other")
        fine = await client.get(f"{BASE}/config", headers={"X-Bot-Token": other.widget_token})
        assert fine.status_code == 200

    async def test_send_is_limited_per_contact(self, client, org) -> None:
        browser = await unverified(client, org)
        session = await browser.create_session()
        for index in range(20):
            assert (await browser.send(session["id"], f"Message {index}"))["success"] is True
        response = await browser.post(
            "/chat/send",
            json={"uuid": str(uuid.uuid4()), "content": "One too many", "session_id": session["id"],
                  "bot_token": org.widget_token},
        )  # fmt: skip
        assert response.json()["error"]["code"] == "rate_limited"
        assert response.headers["Retry-After"]
