"""The reports page: its plots carry the seeded numbers, they agree with
`GET /handoff-analytics` for the same period, the period switches, and anyone of the org's
staff (only theirs) may look."""

from __future__ import annotations

import html
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.analytics.conftest import Handoff, Seeder

MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def ago(days: int, hour: int = 12) -> datetime:
    """`days` whole days before today, at `hour`: inside "the last N days" when days < N."""
    return MIDNIGHT - timedelta(days=days) + timedelta(hours=hour)


@pytest.fixture
def seed(sessionmaker: Any, monkeypatch: pytest.MonkeyPatch) -> Seeder:
    return Seeder(sessionmaker, monkeypatch)


async def a_busy_week(seed: Seeder, org) -> None:
    await seed.tags(org.id, "Shipping", "Refunds", "<b>VIP</b>")
    await seed.conversation(
        org.id,
        ago(1),
        handoffs=[Handoff(ago(1, 13), ["user_requested_human_assistance"], "angry")],
        tags=["Refunds", "<b>VIP</b>"],
        csat=(2, ago(1, 14)),
    )
    await seed.conversation(
        org.id,
        ago(1),
        handoffs=[Handoff(ago(1, 15), ["insufficient_knowledge"], "neutral")],
        tags=["Shipping"],
    )
    await seed.conversation(
        org.id,
        ago(3),
        handoffs=[Handoff(ago(3, 13), ["insufficient_knowledge", "user_frustrated"], "angry")],
        tags=["Shipping"],
    )
    await seed.conversation(
        org.id, ago(3), close="closed_resolved", tags=["Shipping"], csat=(5, ago(3, 13))
    )
    await seed.conversation(org.id, ago(5), close="closed_resolved", csat=(4, ago(5, 13)))
    await seed.conversation(org.id, ago(5), takeover=True, csat=(5, ago(5, 14)))
    await seed.conversation(org.id, ago(6))
    # Outside the last 7 days, inside the last 30.
    await seed.conversation(
        org.id, ago(10), handoffs=[Handoff(ago(10, 13), ["prohibited_topic"])], csat=(1, ago(10))
    )


def text_of(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', page)
    assert found is not None, testid
    return html.unescape(found.group(1)).strip()


def chart(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}"', 1)[1].split("</svg>", 1)[0]


def column_totals(page: str, testid: str) -> list[int]:
    return [int(v) for v in re.findall(r'data-total="(\d+)"', chart(page, testid))]


def segments(page: str, testid: str, series: str) -> list[int]:
    found = re.findall(rf'data-series="{series}" data-value="(\d+)"', chart(page, testid))
    return [int(v) for v in found]


def bar_rows(page: str, testid: str) -> list[tuple[str, int]]:
    rows = re.findall(r'data-label="([^"]*)" data-value="(\d+)"', chart(page, testid))
    return [(html.unescape(label), int(value)) for label, value in rows]


def outcomes(page: str) -> dict[str, int]:
    block = page.split('data-testid="outcomes"', 1)[1].split("</ul>", 1)[0]
    return {
        k: int(v) for k, v in re.findall(r'data-outcome="(\w+)">.*?<strong>(\d+)</strong>', block)
    }


class TestReportsPage:
    async def test_the_plots_carry_the_seeded_numbers(self, client, org, sign_in, seed):
        await a_busy_week(seed, org)
        ann = await sign_in(org)
        page = (await ann.get("/reports?days=7")).text
        assert text_of(page, "total-conversations") == "7"
        assert text_of(page, "total-handoffs") == "3"
        assert text_of(page, "handoff-rate") == "42.9"
        assert text_of(page, "ai-resolved-share") == "28.6%"
        # Oldest day first: 6 days ago … today; each day's conversations by outcome.
        assert column_totals(page, "chart-conversations") == [1, 2, 0, 2, 0, 2, 0]
        assert segments(page, "chart-conversations", "handed_off") == [0, 0, 0, 1, 0, 2, 0]
        assert segments(page, "chart-conversations", "ai_resolved") == [0, 1, 0, 1, 0, 0, 0]
        assert segments(page, "chart-conversations", "taken_over") == [0, 1, 0, 0, 0, 0, 0]
        assert segments(page, "chart-conversations", "open_or_unresolved") == [1, 0, 0, 0, 0, 0, 0]
        assert outcomes(page) == {
            "ai_resolved": 2,
            "handed_off": 3,
            "taken_over": 1,
            "open_or_unresolved": 1,
        }
        assert bar_rows(page, "chart-reasons") == [
            ("Missing knowledge", 2),
            ("A frustrated contact", 1),
            ("The contact asked for a person", 1),
        ]
        assert "(66.7%)" in chart(page, "chart-reasons")
        assert bar_rows(page, "chart-tags") == [("Shipping", 3), ("<b>VIP</b>", 1), ("Refunds", 1)]
        assert text_of(page, "csat-average") == "4.0"
        assert text_of(page, "csat-count") == "4"
        assert segments(page, "chart-csat", "score") == [0, 1, 0, 1, 2]

    async def test_it_shows_what_the_api_answers_for_the_same_period(
        self, client, org, sign_in, seed
    ):
        await a_busy_week(seed, org)
        ann = await sign_in(org)
        page = (await ann.get("/reports?days=30")).text
        start = re.search(r'<time datetime="([^"]+)" data-testid="period-start"', page)
        end = re.search(r'<time datetime="([^"]+)" data-testid="period-end"', page)
        assert start is not None and end is not None
        response = await client.get(
            "/handoff-analytics",
            params={"start_date": start.group(1), "end_date": end.group(1)},
            headers=org.headers,
        )
        api = response.json()
        assert api["total_handoffs"] == int(text_of(page, "total-handoffs")) == 4
        assert api["total_sessions"] == int(text_of(page, "total-conversations")) == 8
        assert text_of(page, "handoff-summary") == api["summary"]
        assert [count for _, count in bar_rows(page, "chart-reasons")] == [
            r["count"] for r in api["reasons"]
        ]
        assert "(25.0%)" in chart(page, "chart-reasons")  # 1 of the API's 4 handoffs
        assert sum(column_totals(page, "chart-conversations")) == api["total_sessions"]

    async def test_the_period_switches_between_7_30_and_90_days(self, org, sign_in, seed):
        await seed.conversation(org.id, ago(10))
        await seed.conversation(org.id, ago(60))
        ann = await sign_in(org)
        seen = {}
        for days in (7, 30, 90):
            page = (await ann.get(f"/reports?days={days}")).text
            seen[days] = int(text_of(page, "total-conversations"))
            assert len(column_totals(page, "chart-conversations")) == days
            assert f'href="/reports?days={days}" aria-current="page"' in page
        assert seen == {7: 0, 30: 1, 90: 2}

    async def test_the_default_is_30_days_and_other_periods_are_refused(self, org, sign_in):
        ann = await sign_in(org)
        page = await ann.get("/reports")
        assert page.status_code == 200
        assert 'href="/reports?days=30" aria-current="page"' in page.text
        refused = await ann.get("/reports?days=8")
        assert refused.status_code == 400 and "days must be 7, 30 or 90" in refused.text
        assert (await ann.get("/reports?days=soon")).status_code == 400

    async def test_an_empty_period_says_so(self, org, sign_in):
        ann = await sign_in(org)
        page = (await ann.get("/reports?days=7")).text
        assert text_of(page, "total-conversations") == "0"
        for empty in ("chart-outcomes-empty", "chart-reasons-empty", "chart-tags-empty"):
            assert f'data-testid="{empty}"' in page
        assert "No ratings in this period." in page

    async def test_names_are_escaped(self, org, sign_in, seed):
        await a_busy_week(seed, org)
        ann = await sign_in(org)
        page = (await ann.get("/reports?days=7")).text
        assert "<b>VIP</b>" not in page and "&lt;b&gt;VIP&lt;/b&gt;" in page


class TestAccess:
    async def test_agents_see_it_in_the_nav_and_open_it(self, org, sign_in):
        await sign_in(org)  # the first member, the admin
        agent = await sign_in(org, email="grace@shop.example", name="Grace")
        home = (await agent.get("/")).text
        assert "· agent" in home and '<a href="/reports"' in home
        page = await agent.get("/reports")
        assert page.status_code == 200 and 'href="/reports" aria-current="page"' in page.text

    async def test_signed_out_is_401(self, client):
        response = await client.get("/reports")
        assert response.status_code == 401 and "<html" in response.text

    async def test_only_the_orgs_own_conversations_count(self, org, other_org, sign_in, seed):
        await a_busy_week(seed, other_org)
        ann = await sign_in(org)
        page = (await ann.get("/reports?days=7")).text
        assert text_of(page, "total-conversations") == "0"
        assert text_of(page, "total-handoffs") == "0"
        assert "Shipping" not in page


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

    async def test_the_same_queries_for_7_or_35_conversations(self, app, org, sign_in, seed):
        ann = await sign_in(org)

        async def measure() -> int:
            with self.counting(app) as statements:
                assert (await ann.get("/reports?days=7")).status_code == 200
            return len(statements)

        await a_busy_week(seed, org)
        few = await measure()
        for _ in range(4):
            await a_busy_week_again(seed, org)
        assert await measure() == few


async def a_busy_week_again(seed: Seeder, org) -> None:
    for n in range(7):
        await seed.conversation(
            org.id,
            ago(n % 6 + 1),
            handoffs=[Handoff(ago(n % 6 + 1, 13), ["insufficient_knowledge"])] if n % 2 else [],
            tags=["Shipping"] if n % 3 else [],
            csat=(n % 5 + 1, ago(n % 6 + 1, 14)),
        )
