"""Chat session endpoints: create, ticket numbers, list and filter, PATCH, tenancy."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from deskpilot.conversations import service
from deskpilot.db import transaction
from deskpilot.models import ChatSession
from tests.conversations.conftest import (
    ai_reply,
    create_session,
    history,
    make_tag,
    read_session,
    send,
    sent_id,
)

SESSION_FIELDS = {
    "id",
    "ticket_number",
    "status",
    "ai_closure_type",
    "sentiment",
    "channel",
    "language",
    "assist_mode",
    "assignee_id",
    "team",
    "contact",
    "custom_data",
    "handoff",
    "ticketing_system",
    "tags",
    "last_message_at",
    "created_at",
    "updated_at",
}
CONTACT_FIELDS = {
    "id",
    "email",
    "phone_number",
    "name",
    "custom_data",
    "non_verified_name",
    "non_verified_email",
    "non_verified_custom_data",
}


async def hand_off(sessionmaker, org, session_id, **fields):
    async with transaction(sessionmaker) as db:
        session = await service.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        await service.hand_off(
            db,
            session=session,
            reasons=fields.get("reasons", ["insufficient_knowledge"]),
            explanation=fields.get("explanation", "No page covers refunds."),
            summary=fields.get("summary"),
            sentiment=fields.get("sentiment"),
        )


class TestCreateSession:
    async def test_returns_the_id_and_documented_defaults(self, client, org):
        response = await client.post("/chat/sessions", json={}, headers=org.headers)
        assert response.status_code == 201
        assert set(response.json()) == {"id"}
        body = await read_session(client, org, response.json()["id"])
        assert set(body) == SESSION_FIELDS
        assert body["ticket_number"] == 1
        assert body["status"] == "open"
        assert body["channel"] == {"type": "api"}
        assert body["custom_data"] == {} and body["tags"] == []
        assert body["contact"] is None and body["handoff"] is None
        assert body["team"] is None and body["ticketing_system"] is None
        assert body["assist_mode"] is False and body["assignee_id"] is None
        assert body["ai_closure_type"] is None and body["last_message_at"] is None
        assert body["created_at"].endswith("Z")

    async def test_verified_contact_data_is_written_as_verified(self, client, org):
        session_id = await create_session(
            client,
            org,
            verified=True,
            contact={
                "email": "ann@example.com",
                "name": "Ann",
                "phone_number": "+14155550100",
                "custom_data": {"plan": "pro"},
            },
        )
        contact = (await read_session(client, org, session_id))["contact"]
        assert set(contact) == CONTACT_FIELDS
        assert contact["email"] == "ann@example.com" and contact["name"] == "Ann"
        assert contact["phone_number"] == "+14155550100"
        assert contact["custom_data"] == {"plan": "pro"}
        assert contact["non_verified_name"] is None
        assert contact["non_verified_custom_data"] == {}

    async def test_unverified_contact_data_goes_to_non_verified_fields(self, client, org):
        session_id = await create_session(
            client,
            org,
            contact={"email": "bob@example.com", "name": "Bob", "custom_data": {"plan": "free"}},
        )
        contact = (await read_session(client, org, session_id))["contact"]
        assert contact["email"] is None and contact["name"] is None
        assert contact["custom_data"] == {}
        assert contact["non_verified_email"] == "bob@example.com"
        assert contact["non_verified_name"] == "Bob"
        assert contact["non_verified_custom_data"] == {"plan": "free"}

    async def test_the_same_email_links_the_same_contact(self, client, org):
        first = await create_session(
            client, org, verified=True, contact={"email": "ann@example.com"}
        )
        second = await create_session(
            client, org, verified=True, contact={"email": "ANN@example.com", "name": "Ann"}
        )
        a = (await read_session(client, org, first))["contact"]
        b = (await read_session(client, org, second))["contact"]
        assert a["id"] == b["id"] and b["name"] == "Ann"

    async def test_contact_id_links_an_existing_contact(self, client, org, other_org):
        created = await client.post(
            "/contacts", json={"contact": {"name": "Cleo"}}, headers=org.headers
        )
        contact_id = created.json()["id"]
        session_id = await create_session(client, org, contact_id=contact_id)
        assert (await read_session(client, org, session_id))["contact"]["name"] == "Cleo"
        for headers, unknown in ((org.headers, str(uuid.uuid4())), (other_org.headers, contact_id)):
            response = await client.post(
                "/chat/sessions", json={"contact_id": unknown}, headers=headers
            )
            assert response.status_code == 404
            assert response.json() == {
                "statusCode": 404,
                "message": "Contact not found",
                "error": "Not Found",
            }

    async def test_channel_and_scalar_custom_data(self, client, org):
        session_id = await create_session(
            client,
            org,
            channel={"type": "web"},
            custom_data={"plan": "pro", "seats": 3, "vip": True, "ratio": 0.5},
        )
        body = await read_session(client, org, session_id)
        assert body["channel"] == {"type": "web"}
        assert body["custom_data"] == {"plan": "pro", "seats": 3, "vip": True, "ratio": 0.5}

    async def test_assist_mode_follows_the_channels_autopilot(self, client, org):
        response = await client.patch(
            "/autopilot", json={"channels": {"email": {"mode": "assist"}}}, headers=org.headers
        )
        assert response.status_code == 200, response.text
        on_email = await create_session(client, org, channel={"type": "email"})
        on_web = await create_session(client, org, channel={"type": "web"})
        assert (await read_session(client, org, on_email))["assist_mode"] is True
        assert (await read_session(client, org, on_web))["assist_mode"] is False

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"custom_data": {"address": {"city": "Berlin"}}}, "custom_data must be a flat object"),
            ({"custom_data": {"tags": ["a"]}}, "custom_data must be a flat object"),
            (
                {"custom_data": {f"k{i}": 1 for i in range(51)}},
                "custom_data must have at most 50 keys",
            ),
            ({"channel": {"type": "fax"}}, "channel.type must be one of the allowed values"),
            ({"contact_id": "nope"}, "contact_id must be a UUID"),
            ({"contact": {"email": "nope"}}, "contact.email must be a valid email address"),
            ({"contact": {"custom_data": {"n": 1}}}, "contact.custom_data.n must be a string"),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, body, message):
        response = await client.post("/chat/sessions", json=body, headers=org.headers)
        assert response.status_code == 400
        assert response.json()["error"] == "Bad Request"
        assert response.json()["message"].startswith(message)


class TestTicketNumbers:
    async def test_unique_and_increasing_under_concurrent_creates(self, client, org, other_org):
        ids = await asyncio.gather(*(create_session(client, org) for _ in range(24)))
        numbers = [(await read_session(client, org, i))["ticket_number"] for i in ids]
        assert sorted(numbers) == list(range(1, 25))
        last = await create_session(client, org)
        assert (await read_session(client, org, last))["ticket_number"] == 25
        theirs = await create_session(client, other_org)
        assert (await read_session(client, other_org, theirs))["ticket_number"] == 1


class TestListSessions:
    async def ids(self, client, org, **params):
        response = await client.get("/chat/sessions", params=params, headers=org.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]], response.json()["next"]

    async def test_newest_first_with_a_cursor(self, client, org):
        created = [await create_session(client, org) for _ in range(3)]
        page, cursor = await self.ids(client, org, limit=2)
        assert page == [created[2], created[1]]
        assert await self.ids(client, org, limit=2, cursor=cursor) == ([created[0]], None)
        response = await client.get("/chat/sessions?cursor=nope", headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"] == "cursor is not valid"

    async def test_filters(self, client, org, sessionmaker):
        web = await create_session(client, org, channel={"type": "web"})
        closed = await create_session(client, org)
        await client.patch(
            f"/chat/sessions/{closed}", json={"status": "closed_resolved"}, headers=org.headers
        )
        handed = await create_session(client, org)
        await hand_off(sessionmaker, org, handed)
        assert (await self.ids(client, org, channel_type="web"))[0] == [web]
        assert (await self.ids(client, org, status="closed_resolved"))[0] == [closed]
        assert (await self.ids(client, org, handed_off="true"))[0] == [handed]
        assert (await self.ids(client, org, handed_off="false"))[0] == [closed, web]
        first = await read_session(client, org, web)
        assert (await self.ids(client, org, created_before=first["created_at"]))[0] == [web]
        assert (await self.ids(client, org, created_after=first["created_at"]))[0] == [
            handed,
            closed,
            web,
        ]
        assert (await self.ids(client, org, updated_after="2999-01-01T00:00:00Z"))[0] == []
        assert (await self.ids(client, org, updated_before="2000-01-01T00:00:00+02:00"))[0] == []
        bad = await client.get("/chat/sessions?status=pending", headers=org.headers)
        assert bad.status_code == 400
        assert bad.json()["message"] == "status must be one of the allowed values"

    async def test_lists_the_session_objects(self, client, org):
        session_id = await create_session(client, org, verified=True, contact={"name": "Ann"})
        response = await client.get("/chat/sessions", headers=org.headers)
        [item] = response.json()["items"]
        assert item == await read_session(client, org, session_id)


class TestFilterSessions:
    async def ids(self, client, org, filters=None, **body):
        response = await client.post(
            "/chat/sessions/filter", json={"filters": filters or {}, **body}, headers=org.headers
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    async def test_page_shape_and_sorting(self, client, org, sessionmaker):
        a = await create_session(client, org)
        b = await create_session(client, org)
        c = await create_session(client, org)
        await sent_id(client, org, a, "first")
        await sent_id(client, org, c, "second")
        response = await client.post(
            "/chat/sessions/filter", json={"limit": 2}, headers=org.headers
        )
        body = response.json()
        assert set(body) == {"data", "page", "limit", "has_next", "has_previous"}
        # By last message, newest first; sessions without messages last.
        assert [item["id"] for item in body["data"]] == [c, a]
        assert (body["page"], body["limit"], body["has_next"], body["has_previous"]) == (
            1,
            2,
            True,
            False,
        )
        page_two = (
            await client.post(
                "/chat/sessions/filter", json={"limit": 2, "page": 2}, headers=org.headers
            )
        ).json()
        assert [item["id"] for item in page_two["data"]] == [b]
        assert page_two["has_next"] is False and page_two["has_previous"] is True
        assert await self.ids(client, org, sort_by="created_at", sort_order="asc") == [a, b, c]
        assert await self.ids(client, org, sort_order="asc") == [a, c, b]

    async def test_search_is_case_insensitive_over_message_text(self, client, org, sessionmaker):
        refund = await create_session(client, org)
        other = await create_session(client, org)
        await sent_id(client, org, refund, "Where is my REFUND?")
        await sent_id(client, org, other, "Shipping times please")
        await ai_reply(sessionmaker, org, other, "Refunds take 5 days; shipping 2.")
        assert await self.ids(client, org, {"search": "refund"}) == [other, refund]
        assert await self.ids(client, org, {"search": "my refund"}) == [refund]
        assert await self.ids(client, org, {"search": "100%"}) == []

    async def test_tags_match_any_of(self, client, org):
        for name in ("billing", "bug", "vip"):
            await make_tag(client, org, name)
        billing = await create_session(client, org)
        bug = await create_session(client, org)
        await create_session(client, org)
        for session_id, tags in ((billing, ["billing", "vip"]), (bug, ["bug"])):
            response = await client.patch(
                f"/chat/sessions/{session_id}", json={"tags": tags}, headers=org.headers
            )
            assert response.status_code == 200, response.text
        assert await self.ids(client, org, {"tags": ["BILLING"]}) == [billing]
        assert set(await self.ids(client, org, {"tags": ["vip", "bug"]})) == {billing, bug}
        assert await self.ids(client, org, {"tags": ["unknown"]}) == []

    async def test_assignee_ids_with_null_for_unassigned(self, client, org):
        seven = await create_session(client, org)
        eight = await create_session(client, org)
        nobody = await create_session(client, org)
        for session_id, agent in ((seven, 7), (eight, 8)):
            await client.patch(
                f"/chat/sessions/{session_id}", json={"assignee_id": agent}, headers=org.headers
            )
        assert await self.ids(client, org, {"assignee_ids": [7]}) == [seven]
        assert await self.ids(client, org, {"assignee_ids": [None]}) == [nobody]
        assert set(await self.ids(client, org, {"assignee_ids": [8, None]})) == {eight, nobody}

    async def test_custom_data_pairs_must_all_be_equal_with_their_type(self, client, org):
        pro = await create_session(
            client, org, custom_data={"plan": "pro", "seats": 3, "vip": True, "a.b": "x"}
        )
        text_three = await create_session(client, org, custom_data={"plan": "pro", "seats": "3"})
        assert await self.ids(client, org, {"custom_data": {"plan": "pro", "seats": 3}}) == [pro]
        assert await self.ids(client, org, {"custom_data": {"seats": "3"}}) == [text_three]
        assert await self.ids(client, org, {"custom_data": {"seats": 3.0}}) == [pro]
        assert await self.ids(client, org, {"custom_data": {"vip": True}}) == [pro]
        assert await self.ids(client, org, {"custom_data": {"vip": 1}}) == []
        assert await self.ids(client, org, {"custom_data": {"a.b": "x"}}) == [pro]
        assert set(await self.ids(client, org, {"custom_data": {"plan": "pro"}})) == {
            pro,
            text_three,
        }
        assert await self.ids(client, org, {"custom_data": {"plan": "free"}}) == []

    async def test_other_dimensions(self, client, org, sessionmaker):
        web = await create_session(client, org, channel={"type": "web"})
        contact = await create_session(client, org, verified=True, contact={"name": "Ann"})
        handed = await create_session(client, org)
        await hand_off(sessionmaker, org, handed)
        contact_id = (await read_session(client, org, contact))["contact"]["id"]
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(ChatSession)
                .where(ChatSession.id == uuid.UUID(web))
                .values(sentiment="angry", language="de", status="closed_unresolved")
            )
        assert await self.ids(client, org, {"channels": ["web", "email"]}) == [web]
        assert await self.ids(client, org, {"statuses": ["closed_unresolved"]}) == [web]
        assert await self.ids(client, org, {"sentiments": ["angry"]}) == [web]
        assert await self.ids(client, org, {"languages": ["de"]}) == [web]
        assert await self.ids(client, org, {"contact_ids": [contact_id]}) == [contact]
        assert await self.ids(client, org, {"handed_off": True}) == [handed]
        assert await self.ids(client, org, {"team_ids": ["t1", 2]}) == []
        assert len(await self.ids(client, org, {"channels": []})) == 3
        assert (
            await self.ids(
                client, org, {"created_after": "2999-01-01T00:00:00Z"}, sort_by="created_at"
            )
            == []
        )
        assert await self.ids(client, org, {"last_message_before": "2999-01-01T00:00:00Z"}) == []

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"limit": 101}, "limit must not be greater than 100"),
            ({"page": 0}, "page must not be less than 1"),
            ({"sort_by": "ticket_number"}, "sort_by must be one of the allowed values"),
            ({"filters": {"custom_data": {"a": {"b": 1}}}}, "filters.custom_data must be a flat"),
            ({"filters": {"assignee_ids": ["x"]}}, "filters.assignee_ids.0"),
        ],
    )
    async def test_invalid_bodies(self, client, org, body, message):
        response = await client.post("/chat/sessions/filter", json=body, headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)


class TestUpdateSession:
    async def patch(self, client, org, session_id, **body):
        response = await client.patch(
            f"/chat/sessions/{session_id}", json=body, headers=org.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def test_close_and_reopen_log_events(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        closed = await self.patch(
            client,
            org,
            session_id,
            status="closed_resolved",
            generate_summary_and_sentiment_on_resolve=True,
            session_closed_payload={"ticket": "T-1"},
        )
        assert closed["status"] == "closed_resolved"
        again = await self.patch(client, org, session_id, status="closed_resolved")
        assert again["status"] == "closed_resolved"
        reopened = await self.patch(client, org, session_id, status="open")
        assert reopened["status"] == "open"
        events = [
            (i["event"]["type"], i["event"]["sender"]["type"])
            for i in await history(client, org, session_id)
        ]
        assert events == [("session_closed", "system"), ("session_reopened", "system")]
        async with transaction(sessionmaker) as db:
            row = await db.get(ChatSession, uuid.UUID(session_id))
            assert row.close_request == {
                "generate_summary_and_sentiment_on_resolve": True,
                "reflect_status_change_for_integration": False,
                "session_closed_payload": {"ticket": "T-1"},
            }
            assert row.closed_at is None

    async def test_tags_replace_the_set_and_null_clears(self, client, org):
        for name in ("billing", "bug"):
            await make_tag(client, org, name)
        session_id = await create_session(client, org)
        assert (await self.patch(client, org, session_id, tags=["Billing", "bug"]))["tags"] == [
            "billing",
            "bug",
        ]
        assert (await self.patch(client, org, session_id, tags=["bug"]))["tags"] == ["bug"]
        assert (await self.patch(client, org, session_id, status="open"))["tags"] == ["bug"]
        assert (await self.patch(client, org, session_id, tags=None))["tags"] == []
        unknown = await client.patch(
            f"/chat/sessions/{session_id}", json={"tags": ["bug", "nope"]}, headers=org.headers
        )
        assert unknown.status_code == 400
        assert unknown.json()["message"] == "tags: unknown tag 'nope'"
        assert (await read_session(client, org, session_id))["tags"] == []

    async def test_deleting_a_tag_removes_it_from_sessions(self, client, org):
        await make_tag(client, org, "billing")
        session_id = await create_session(client, org)
        await self.patch(client, org, session_id, tags=["billing"])
        assert (await client.delete("/tags/billing", headers=org.headers)).status_code == 204
        assert (await read_session(client, org, session_id))["tags"] == []

    async def test_assignee_is_a_takeover(self, client, org):
        session_id = await create_session(client, org)
        assert (await self.patch(client, org, session_id, assignee_id=7))["assignee_id"] == 7
        await self.patch(client, org, session_id, assignee_id=7)
        assert (await self.patch(client, org, session_id, assignee_id=None))["assignee_id"] is None
        [takeover] = await history(client, org, session_id)
        assert takeover["event"]["type"] == "human_agent_takeover"
        assert takeover["event"]["human_agent_id"] == 7
        assert takeover["event"]["sender"]["type"] == "human_agent"

    async def test_status_cannot_be_null(self, client, org):
        session_id = await create_session(client, org)
        response = await client.patch(
            f"/chat/sessions/{session_id}", json={"status": None}, headers=org.headers
        )
        assert response.status_code == 400
        assert response.json()["message"] == "status cannot be null"

    async def test_handoff_object(self, client, org, sessionmaker):
        session_id = await create_session(client, org)
        await hand_off(
            sessionmaker,
            org,
            session_id,
            reasons=["user_requested_human_assistance"],
            explanation="Asked for a person.",
            summary="Wants a refund.",
            sentiment="angry",
        )
        body = await read_session(client, org, session_id)
        assert body["ai_closure_type"] == "handed_off"
        handoff = body["handoff"]
        assert set(handoff) == {"summary", "sentiment", "reasons", "explanation", "created_at"}
        assert handoff["reasons"] == ["user_requested_human_assistance"]
        assert (handoff["summary"], handoff["sentiment"]) == ("Wants a refund.", "angry")
        assert handoff["explanation"] == "Asked for a person."


class TestTenancy:
    async def test_another_orgs_session_is_404_on_every_route(self, client, org, other_org):
        session_id = await create_session(client, org, custom_data={"k": "v"})
        message_id = await sent_id(client, org, session_id, "Private question")
        base = f"/chat/sessions/{session_id}"
        headers = other_org.headers
        attempts = [
            client.get(base, headers=headers),
            client.patch(base, json={"status": "closed_resolved"}, headers=headers),
            send(client, other_org, session_id, "Hi"),
            client.get(f"{base}/history", headers=headers),
            client.post(f"{base}/redact", headers=headers),
            client.post(f"{base}/messages/{message_id}/redact", headers=headers),
            client.get(f"{base}/attachments/{uuid.uuid4()}", headers=headers),
            client.get(f"/chat/sessions/{uuid.uuid4()}", headers=org.headers),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, response.request.url
            assert response.json() == {
                "statusCode": 404,
                "message": "Chat session not found",
                "error": "Not Found",
            }
        listed = await client.get("/chat/sessions", headers=headers)
        assert listed.json() == {"items": [], "next": None}
        filtered = await client.post(
            "/chat/sessions/filter",
            json={"filters": {"search": "private", "custom_data": {"k": "v"}}},
            headers=headers,
        )
        assert filtered.json()["data"] == []
        still = await read_session(client, org, session_id)
        assert still["status"] == "open"
        [item] = await history(client, org, session_id)
        assert item["event"]["content"]["text"] == "Private question"

    async def test_a_message_of_another_session_is_not_found(self, client, org):
        first = await create_session(client, org)
        second = await create_session(client, org)
        message_id = await sent_id(client, org, first, "Keep me")
        response = await client.post(
            f"/chat/sessions/{second}/messages/{message_id}/redact", headers=org.headers
        )
        assert response.status_code == 404
        assert response.json()["message"] == "Message not found"
        [item] = await history(client, org, first)
        assert item["event"]["content"]["text"] == "Keep me"

    async def test_requests_need_an_org_key(self, client, org):
        response = await client.get("/chat/sessions")
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"


async def test_agent_ids_beyond_32_bits_are_400_not_500(client, org) -> None:
    huge = 2**80
    response = await client.post(
        "/chat/sessions/filter", json={"filters": {"assignee_ids": [huge]}}, headers=org.headers
    )
    assert response.status_code == 400, response.text
    created = await client.post(
        "/chat/sessions", json={"channel": {"type": "api"}}, headers=org.headers
    )
    session_id = created.json()["id"]
    patched = await client.patch(
        f"/chat/sessions/{session_id}", json={"assignee_id": -huge}, headers=org.headers
    )
    assert patched.status_code == 400, patched.text
