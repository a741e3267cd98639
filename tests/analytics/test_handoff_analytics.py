"""`GET /handoff-analytics` and `/handoff-analytics/events` (API.md 3.11): the numbers on
seeded conversations, the period and its limits, org isolation, and the list's pages."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.analytics import service
from tests.analytics.conftest import T0, WEEK, Handoff, Seeder, day

ASKED = "user_requested_human_assistance"
MISSING = "insufficient_knowledge"
FRUSTRATED = "user_frustrated"


def turn(*urls: str, scenario: str | None = None, instruction: str | None = None) -> dict:
    record: dict[str, Any] = {
        "decision": "clarify",
        "knowledge": [{"chunk_id": f"c-{url}", "url": url, "title": url} for url in urls],
        "scenarios": [{"id": scenario, "title": "S", "score": 0.5}] if scenario else [],
        "instructions": [{"id": instruction, "title": "I", "version": 1}] if instruction else [],
    }
    return record


async def analytics(client, org, **params: str) -> dict[str, Any]:
    response = await client.get("/handoff-analytics", params=params, headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def events(client, org, **params: Any) -> dict[str, Any]:
    response = await client.get("/handoff-analytics/events", params=params, headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_400(response, message: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"statusCode": 400, "message": message, "error": "Bad Request"}


async def a_week_of_handoffs(seed: Seeder, org) -> dict[str, str]:
    """Five handoffs in WEEK (one of a conversation started the week before), two
    conversations the AI kept, and a handoff on each side of the week."""
    ids = {
        "asked": await seed.conversation(
            org.id, day(0), handoffs=[Handoff(day(0, 13), [ASKED], "angry", "Wants a person")]
        ),
        "missing": await seed.conversation(
            org.id, day(0), handoffs=[Handoff(day(0, 14), [MISSING], "neutral")]
        ),
        "both": await seed.conversation(
            org.id, day(2), handoffs=[Handoff(day(2, 15), [MISSING, FRUSTRATED], "angry")]
        ),
        "both_reversed": await seed.conversation(
            org.id, day(2), handoffs=[Handoff(day(2, 16), [FRUSTRATED, MISSING], "happy")]
        ),
        "older": await seed.conversation(
            org.id, day(-3), handoffs=[Handoff(day(4), [MISSING], "neutral")]
        ),
        "kept_1": await seed.conversation(org.id, day(4)),
        "kept_2": await seed.conversation(org.id, day(6, 23)),
        "before": await seed.conversation(
            org.id, day(-1), handoffs=[Handoff(day(-1, 13), [ASKED], "angry")]
        ),
        "after": await seed.conversation(
            org.id, day(7, 1), handoffs=[Handoff(day(7, 2), [ASKED], "angry")]
        ),
    }
    return ids


class TestOverview:
    async def test_the_numbers_of_a_seeded_week(self, client, org, seed):
        await a_week_of_handoffs(seed, org)
        body = await analytics(client, org, **WEEK)
        assert body["start_date"] == "2025-03-03T00:00:00.000Z"
        assert body["end_date"] == "2025-03-09T23:59:59.999Z"
        assert (body["total_sessions"], body["total_handoffs"]) == (6, 5)
        assert body["reasons"] == [
            {"reason": MISSING, "count": 4, "percentage": 80.0},
            {"reason": FRUSTRATED, "count": 2, "percentage": 40.0},
            {"reason": ASKED, "count": 1, "percentage": 20.0},
        ]
        assert body["reason_combinations"] == [
            {"reasons": [MISSING], "session_count": 2, "percentage": 40.0},
            {"reasons": [MISSING, FRUSTRATED], "session_count": 2, "percentage": 40.0},
            {"reasons": [ASKED], "session_count": 1, "percentage": 20.0},
        ]
        assert body["sentiments"] == [
            {"sentiment": "angry", "count": 2, "percentage": 40.0},
            {"sentiment": "neutral", "count": 2, "percentage": 40.0},
            {"sentiment": "happy", "count": 1, "percentage": 20.0},
        ]
        assert body["trends"] == [
            {"date": "2025-03-03", "count": 2},
            {"date": "2025-03-04", "count": 0},
            {"date": "2025-03-05", "count": 2},
            {"date": "2025-03-06", "count": 0},
            {"date": "2025-03-07", "count": 1},
            {"date": "2025-03-08", "count": 0},
            {"date": "2025-03-09", "count": 0},
        ]
        assert body["tool_references"] == []

    async def test_percentages_have_one_decimal(self, client, org, seed):
        for n in range(3):
            await seed.conversation(org.id, day(n), handoffs=[Handoff(day(n, 13), [ASKED])])
        await seed.conversation(org.id, day(1), handoffs=[Handoff(day(1, 14), [MISSING])])
        await seed.conversation(org.id, day(1), handoffs=[Handoff(day(1, 15), [MISSING])])
        await seed.conversation(org.id, day(1), handoffs=[Handoff(day(1, 16), [FRUSTRATED])])
        body = await analytics(client, org, **WEEK)
        assert [(r["reason"], r["percentage"]) for r in body["reasons"]] == [
            (ASKED, 50.0),
            (MISSING, 33.3),
            (FRUSTRATED, 16.7),
        ]
        assert "The busiest day was 2025-03-04 with 4 handoffs." in body["summary"]

    async def test_a_handed_back_conversation_still_counts_once_with_its_latest_handoff(
        self, client, org, seed
    ):
        await seed.conversation(
            org.id,
            day(0),
            handoffs=[
                Handoff(day(0, 13), [MISSING], summary="first"),
                Handoff(day(3, 9), [ASKED], summary="second"),
            ],
            hand_back=True,
        )
        body = await analytics(client, org, **WEEK)
        assert body["total_handoffs"] == 1
        assert body["reasons"] == [{"reason": ASKED, "count": 1, "percentage": 100.0}]
        assert [t["date"] for t in body["trends"] if t["count"]] == ["2025-03-06"]
        listed = await events(client, org, **WEEK)
        assert [item["summary"] for item in listed["items"]] == ["second"]
        assert listed["items"][0]["created_at"] == "2025-03-06T09:00:00.000Z"

    async def test_the_sentiment_at_handoff_else_the_sessions_else_unknown(self, client, org, seed):
        await seed.conversation(org.id, day(0), handoffs=[Handoff(day(0, 13), [ASKED], "happy")])
        await seed.conversation(
            org.id, day(0), sentiment="angry", handoffs=[Handoff(day(0, 14), [ASKED])]
        )
        await seed.conversation(org.id, day(0), handoffs=[Handoff(day(0, 15), [ASKED])])
        body = await analytics(client, org, **WEEK)
        assert body["sentiments"] == [
            {"sentiment": "angry", "count": 1, "percentage": 33.3},
            {"sentiment": "happy", "count": 1, "percentage": 33.3},
            {"sentiment": "unknown", "count": 1, "percentage": 33.3},
        ]

    async def test_references_come_from_the_turns_of_handed_off_conversations(
        self, client, org, seed
    ):
        shipping, returns, faq = (
            "https://shop.example/shipping",
            "https://shop.example/returns",
            "https://shop.example/faq",
        )
        await seed.conversation(
            org.id,
            day(0),
            turns=[turn(shipping, returns, scenario="s-1", instruction="i-tone"), turn(shipping)],
            handoffs=[Handoff(day(0, 13), [MISSING])],
        )
        await seed.conversation(
            org.id,
            day(1),
            turns=[turn(shipping, instruction="i-tone"), {"decision": "handoff", "topic": "legal"}],
            handoffs=[Handoff(day(1, 13), ["prohibited_topic"])],
        )
        # The AI answered this one alone: what it read is not a handoff's.
        await seed.conversation(org.id, day(1), turns=[turn(faq, scenario="s-2")])
        body = await analytics(client, org, **WEEK)
        assert body["knowledge_references"] == [
            {"type": "page", "id": shipping, "count": 2},
            {"type": "page", "id": returns, "count": 1},
            {"type": "training", "id": "s-1", "count": 1},
        ]
        assert body["instruction_references"] == [{"type": "training", "id": "i-tone", "count": 2}]
        assert body["prohibited_topic_references"] == [{"type": "topic", "id": "legal", "count": 1}]

    async def test_the_summary_is_written_from_the_numbers(self, client, org, seed):
        await a_week_of_handoffs(seed, org)
        summary = (await analytics(client, org, **WEEK))["summary"]
        assert summary.startswith(
            "5 conversations were handed off to the team between 2025-03-03 and 2025-03-09; "
            "6 conversations started in that period (handoff rate 83.3%)."
        )
        assert (
            "The most common reason was missing knowledge (4, 80.0%), followed by a frustrated "
            "contact (2, 40.0%) and the contact asked for a person (1, 20.0%)."
        ) in summary
        assert "2 handoffs had more than one reason" in summary
        assert "The contact was angry in 2 of them (40.0%)." in summary
        assert "No day had more than 2 handoffs." in summary  # 3 and 5 March

    async def test_a_period_without_handoffs(self, client, org, seed):
        await seed.conversation(org.id, day(1))
        body = await analytics(client, org, **WEEK)
        assert (body["total_sessions"], body["total_handoffs"]) == (1, 0)
        assert body["reasons"] == body["reason_combinations"] == body["sentiments"] == []
        assert [t["count"] for t in body["trends"]] == [0] * 7
        assert body["summary"] == (
            "No conversation was handed off to the team between 2025-03-03 and 2025-03-09 "
            "(1 conversation started)."
        )


class TestPeriod:
    async def test_the_default_is_the_last_30_days_up_to_now(self, client, org, seed):
        now = datetime.now(UTC)
        await seed.conversation(
            org.id, now - timedelta(days=29), handoffs=[Handoff(now - timedelta(days=29), [ASKED])]
        )
        await seed.conversation(
            org.id, now - timedelta(days=31), handoffs=[Handoff(now - timedelta(days=31), [ASKED])]
        )
        body = await analytics(client, org)
        start = datetime.fromisoformat(body["start_date"])
        end = datetime.fromisoformat(body["end_date"])
        assert end - start == timedelta(days=30)
        assert abs(end - datetime.now(UTC)) < timedelta(minutes=1)
        assert (body["total_sessions"], body["total_handoffs"]) == (1, 1)
        assert len(body["trends"]) == 31

    async def test_start_alone_runs_to_now_and_end_alone_starts_30_days_before(self, client, org):
        start = (datetime.now(UTC) - timedelta(days=100)).replace(microsecond=0)
        since = await analytics(client, org, start_date=start.isoformat())
        assert datetime.fromisoformat(since["start_date"]) == start
        assert abs(datetime.fromisoformat(since["end_date"]) - datetime.now(UTC)) < timedelta(
            minutes=1
        )
        until = await analytics(client, org, end_date="2025-03-31T00:00:00+02:00")
        assert until["end_date"] == "2025-03-30T22:00:00.000Z"
        assert until["start_date"] == "2025-02-28T22:00:00.000Z"

    async def test_366_days_is_the_longest_period(self, client, org):
        longest = {"start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"}
        assert len((await analytics(client, org, **longest))["trends"]) == 367
        for path in ("/handoff-analytics", "/handoff-analytics/events"):
            response = await client.get(
                path,
                params={**longest, "end_date": "2025-01-01T00:00:00.001Z"},
                headers=org.headers,
            )
            assert_400(response, "start_date and end_date must not be more than 366 days apart")

    async def test_start_must_come_before_end(self, client, org):
        for path in ("/handoff-analytics", "/handoff-analytics/events"):
            response = await client.get(
                path,
                params={"start_date": "2025-03-09T00:00:00Z", "end_date": "2025-03-03T00:00:00Z"},
                headers=org.headers,
            )
            assert_400(response, "start_date must be earlier than end_date")
        future = await client.get(
            "/handoff-analytics",
            params={"start_date": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            headers=org.headers,
        )
        assert_400(future, "start_date must be earlier than end_date")

    async def test_an_end_too_early_for_the_default_start_is_400(self, client, org):
        response = await client.get(
            "/handoff-analytics/events",
            params={"end_date": "0001-01-01T00:09:30Z"},
            headers=org.headers,
        )
        assert_400(response, "end_date is out of range")

    async def test_a_malformed_date_is_400(self, client, org):
        response = await client.get(
            "/handoff-analytics", params={"start_date": "last week"}, headers=org.headers
        )
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "Bad Request" and "start_date" in body["message"]


class TestOrgIsolation:
    async def test_another_orgs_handoffs_are_never_counted_or_listed(
        self, client, org, other_org, seed
    ):
        await a_week_of_handoffs(seed, org)
        theirs = await analytics(client, other_org, **WEEK)
        assert (theirs["total_sessions"], theirs["total_handoffs"]) == (0, 0)
        assert theirs["reasons"] == [] and theirs["knowledge_references"] == []
        assert (await events(client, other_org, **WEEK)) == {"items": [], "next": None, "total": 0}
        await seed.conversation(other_org.id, day(1), handoffs=[Handoff(day(1, 13), [ASKED])])
        ours = await analytics(client, org, **WEEK)
        assert (ours["total_sessions"], ours["total_handoffs"]) == (6, 5)

    async def test_an_org_key_is_required(self, client, org, partner_key_headers):
        for path in ("/handoff-analytics", "/handoff-analytics/events"):
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers=partner_key_headers)).status_code == 401


@pytest.fixture
def partner_key_headers(org) -> dict[str, str]:
    return org.partner.headers


class TestEvents:
    async def test_handoffs_latest_first_with_their_details(self, client, org, seed):
        ids = await a_week_of_handoffs(seed, org)
        body = await events(client, org, **WEEK)
        assert body["total"] == 5 and body["next"] is None
        assert [item["session_id"] for item in body["items"]] == [
            ids["older"],
            ids["both_reversed"],
            ids["both"],
            ids["missing"],
            ids["asked"],
        ]
        assert body["items"][-1] == {
            "session_id": ids["asked"],
            "summary": "Wants a person",
            "explanation": None,
            "reasons": [ASKED],
            "created_at": "2025-03-03T13:00:00.000Z",
        }

    async def test_pages_follow_the_cursor_to_the_end(self, client, org, seed):
        ids = await a_week_of_handoffs(seed, org)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {**WEEK, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await events(client, org, **params)
            assert page["total"] == 5
            seen += [item["session_id"] for item in page["items"]]
            pages += 1
            cursor = page["next"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == [ids[k] for k in ("older", "both_reversed", "both", "missing", "asked")]

    async def test_handoffs_at_the_same_moment_are_neither_lost_nor_repeated(
        self, client, org, seed
    ):
        same = [
            await seed.conversation(org.id, day(1), handoffs=[Handoff(day(1, 13), [ASKED])])
            for _ in range(5)
        ]
        first = await events(client, org, **WEEK, limit=3)
        second = await events(client, org, **WEEK, limit=3, cursor=first["next"])
        listed = [i["session_id"] for i in first["items"] + second["items"]]
        assert sorted(listed) == sorted(same) and second["next"] is None

    async def test_filter_by_reason(self, client, org, seed):
        ids = await a_week_of_handoffs(seed, org)
        frustrated = await events(client, org, **WEEK, reason=FRUSTRATED)
        assert frustrated["total"] == 2
        assert {i["session_id"] for i in frustrated["items"]} == {ids["both"], ids["both_reversed"]}
        asked = await events(client, org, **WEEK, reason=ASKED)
        assert [i["session_id"] for i in asked["items"]] == [ids["asked"]]
        none = await events(client, org, **WEEK, reason="prohibited_topic")
        assert none == {"items": [], "next": None, "total": 0}

    async def test_an_unknown_reason_or_a_bad_cursor_is_400(self, client, org):
        response = await client.get(
            "/handoff-analytics/events", params={"reason": "bored"}, headers=org.headers
        )
        assert response.status_code == 400 and "reason" in response.json()["message"]
        assert_400(
            await client.get(
                "/handoff-analytics/events", params={"cursor": "nope"}, headers=org.headers
            ),
            "cursor is not valid",
        )


class TestCost:
    @contextmanager
    def counting(self, app):
        engine = app.state.deskpilot.engine.sync_engine
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)

    async def test_the_same_queries_for_3_or_30_handoffs(self, app, client, org, seed):
        async def measure() -> int:
            with self.counting(app) as statements:
                await analytics(client, org, **WEEK)
            return len(statements)

        for n in range(3):
            await seed.conversation(
                org.id,
                day(n),
                turns=[turn(f"https://s/{n}")],
                handoffs=[Handoff(day(n, 13), [ASKED])],
            )
        await measure()  # the key's first use of the run is recorded once
        few = await measure()
        for n in range(27):
            await seed.conversation(
                org.id,
                day(n % 7),
                turns=[turn(f"https://s/{n}", scenario=f"s{n}")],
                handoffs=[Handoff(day(n % 7, 14), [MISSING, ASKED][: 1 + n % 2])],
            )
        assert await measure() == few


class TestPeriodHelpers:
    def test_last_days_starts_at_midnight(self):
        now = T0 + timedelta(days=6, hours=15)
        period = service.last_days(7, now=now)
        assert period.start == T0 and period.end == now
        assert len(period.days()) == 7
