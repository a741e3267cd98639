"""Server time and SQL statements of every dashboard page, and of `GET /handoff-analytics`,
for an org with 10,000 conversations over four months (each with its own contact; a third
handed off, each with two AI turns whose debug records name six pages, a scenario and an
instruction; tags and CSAT answers), beside a second org of 2,000.

Rows are bulk-inserted (the services would take minutes), the tables analysed, then each
request runs in-process through the ASGI app (no network) and reports its p50 and p95 and
the number of SQL statements it ran (the same on every run: no query per row; the app's own
background pollers, which share the process, now and then add one to a request's count).

    .venv/bin/python bench/dashboard_latency.py [--database-url postgresql+psycopg://…] [--runs 9]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from deskpilot import db as database
from deskpilot.app import create_app
from deskpilot.config import Settings
from deskpilot.models import (
    ChatEvent,
    ChatSession,
    Contact,
    Tag,
    WidgetCsat,
    chat_session_tags,
)
from deskpilot.org import service as org_service
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import OrgCreate

REASONS = [
    ["insufficient_knowledge"],
    ["user_requested_human_assistance"],
    ["user_frustrated", "insufficient_knowledge"],
    ["prohibited_topic"],
]


def _turn(rng: random.Random) -> dict[str, Any]:
    return {
        "decision": "answer",
        "knowledge": [
            {"chunk_id": str(uuid.uuid4()), "url": f"https://shop.example/{rng.randrange(80)}"}
            for _ in range(6)
        ],
        "scenarios": [{"id": f"scenario-{rng.randrange(20)}", "title": "S", "score": 0.5}],
        "instructions": [{"id": "tone", "title": "Tone", "version": 1}],
    }


async def _fill(db: Any, org_id: uuid.UUID, count: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    tags = [Tag(org_id=org_id, tag_name=f"Tag {i}", name_key=f"tag {i}") for i in range(8)]
    db.add_all(tags)
    await db.flush()
    sessions, events, links, answers, contacts = [], [], [], [], []
    for number in range(1, count + 1):
        session_id = uuid.uuid4()
        started = now - timedelta(days=rng.uniform(0, 120))
        handed = rng.random() < 0.3
        contact_id = uuid.uuid4()
        email = f"visitor{number}@{org_id.hex[:8]}.example"
        contacts.append(
            {
                "id": contact_id,
                "org_id": org_id,
                "name": f"Visitor {number}",
                "email": email,
                "email_key": email,
                "custom_data": {},
                "non_verified_custom_data": {},
                "created_at": started,
                "updated_at": started,
            }
        )
        sessions.append(
            {
                "id": session_id,
                "org_id": org_id,
                "contact_id": contact_id,
                "ticket_number": number,
                "status": rng.choice(["open", "closed_resolved", "closed_unresolved"]),
                "channel": "web",
                "custom_data": {},
                "assist_mode": False,
                "ai_replies": 2,
                "ai_unproductive_replies": 0,
                "event_seq": 6 if handed else 5,
                "created_at": started,
                "updated_at": started,
                "handoff_at": started + timedelta(minutes=5) if handed else None,
                "handoff_reasons": rng.choice(REASONS) if handed else None,
                "handoff_sentiment": rng.choice(["angry", "neutral", None]) if handed else None,
            }
        )
        for seq in range(1, 6):
            ai = seq % 2 == 0
            events.append(
                {
                    "id": uuid.uuid4(),
                    "org_id": org_id,
                    "session_id": session_id,
                    "seq": seq,
                    "type": "message",
                    "sender_type": "ai" if ai else "contact",
                    "text": "…",
                    "redacted": False,
                    "debug": _turn(rng) if ai else None,
                    "created_at": started + timedelta(minutes=seq),
                }
            )
        if handed:
            events.append(
                {
                    "id": uuid.uuid4(),
                    "org_id": org_id,
                    "session_id": session_id,
                    "seq": 6,
                    "type": "handoff",
                    "sender_type": "system",
                    "text": None,
                    "redacted": False,
                    "debug": None,
                    "created_at": started + timedelta(minutes=5),
                }
            )
        if rng.random() < 0.5:
            links.append({"session_id": session_id, "tag_id": rng.choice(tags).id})
        if rng.random() < 0.3:
            answers.append(
                {
                    "session_id": session_id,
                    "org_id": org_id,
                    "score": rng.randint(1, 5),
                    "created_at": started + timedelta(minutes=9),
                }
            )
    await db.execute(sa.insert(Contact), contacts)
    await db.execute(sa.insert(ChatSession), sessions)
    for start in range(0, len(events), 5000):
        await db.execute(sa.insert(ChatEvent), events[start : start + 5000])
    await db.execute(sa.insert(chat_session_tags), links)
    await db.execute(sa.insert(WidgetCsat), answers)


class _Statements:
    """Counts the SQL statements the app runs (every engine in this process)."""

    def __init__(self) -> None:
        self.count = 0
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


async def _measure(
    http: httpx.AsyncClient, statements: _Statements, path: str, runs: int, **kw: Any
) -> tuple[list[float], set[int]]:
    times, counts = [], set()
    for _ in range(runs):
        before = statements.count
        started = time.perf_counter()
        response = await http.get(path, **kw)
        times.append((time.perf_counter() - started) * 1000)
        counts.add(statements.count - before)
        response.raise_for_status()
    return times, counts


async def main(database_url: str | None, runs: int) -> None:
    statements = _Statements()
    with tempfile.TemporaryDirectory(prefix="deskpilot-dashboard-") as data:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATABASE_URL=database_url or f"sqlite+aiosqlite:///{data}/deskpilot.db",
            DATA_DIR=Path(data),
            SECRET_KEY="bench-" + "r" * 40,
            LOG_LEVEL="WARNING",
            RATE_LIMIT_ENABLED=False,
        )
        database.upgrade(settings)
        engine = database.create_engine(settings)
        rng = random.Random(7)
        async with database.transaction(database.create_sessionmaker(engine)) as db:
            partner = await partner_service.create_partner(db, name="Bench partner")
            org = await org_service.create_org(
                db, partner_id=partner.partner.id, data=OrgCreate(name="Big shop")
            )
            other = await org_service.create_org(
                db, partner_id=partner.partner.id, data=OrgCreate(name="Other shop")
            )
            key = await org_service.create_org_key(db, org_id=org.id, name="bench")
            await _fill(db, org.id, 10_000, rng)
            await _fill(db, other.id, 2_000, rng)
        async with engine.begin() as conn:
            await conn.execute(sa.text("ANALYZE"))
        await engine.dispose()

        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                api = {"Authorization": f"Bearer {key.secret}"}
                link = await http.post(
                    f"/partner/v1/orgs/{org.id}/login-links",
                    json={"email": "lead@shop.example"},
                    headers={"Authorization": f"Bearer {partner.api_key}"},
                )
                link.raise_for_status()
                await http.get(link.json()["url"].replace(settings.PUBLIC_URL, ""))
                async with database.transaction(database.create_sessionmaker(engine)) as db:
                    busiest = await db.scalar(
                        sa.select(ChatSession.id)
                        .where(ChatSession.org_id == org.id, ChatSession.handoff_at.is_not(None))
                        .order_by(ChatSession.created_at.desc())
                        .limit(1)
                    )
                    contact = await db.scalar(
                        sa.select(ChatSession.contact_id).where(ChatSession.id == busiest)
                    )
                year = {
                    "start_date": (datetime.now(UTC) - timedelta(days=365)).isoformat(),
                }
                pages = [
                    "/",
                    "/inbox",
                    "/inbox?view=handed_off",
                    "/inbox?view=all&tag=Tag+3",
                    "/inbox?view=all&q=Visitor+42",
                    "/inbox?assignee=none&channel=web",
                    f"/inbox/{busiest}",
                    "/people",
                    "/people?q=visitor77",
                    f"/people/{contact}",
                    "/knowledge",
                    "/console",
                    "/team",
                    "/settings/profile",
                    "/settings/training",
                    "/settings/autopilot",
                    "/settings/handoff",
                    "/settings/office-hours",
                    "/settings/tags",
                    "/settings/api-keys",
                    "/settings/widget",
                ]
                cases = [(f"page {path}", path, {}) for path in pages] + [
                    ("GET /handoff-analytics (30 days)", "/handoff-analytics", {"headers": api}),
                    (
                        "GET /handoff-analytics (365 days)",
                        "/handoff-analytics",
                        {"headers": api, "params": year},
                    ),
                    (
                        "GET /handoff-analytics/events",
                        "/handoff-analytics/events",
                        {"headers": api},
                    ),
                    ("reports page, 7 days", "/reports?days=7", {}),
                    ("reports page, 30 days", "/reports?days=30", {}),
                    ("reports page, 90 days", "/reports?days=90", {}),
                ]
                print(f"database: {engine.dialect.name}; 10,000 conversations in the org")
                worst = 0.0
                for label, path, kw in cases:
                    await http.get(path, **kw)  # warm-up
                    measured, counts = await _measure(http, statements, path, runs, **kw)
                    times = sorted(measured)
                    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                    if label.startswith("page "):
                        worst = max(worst, p95)
                    queries = "/".join(str(c) for c in sorted(counts))
                    print(
                        f"{label[:44]:44} p50 {statistics.median(times):6.0f} ms"
                        f"  p95 {p95:6.0f} ms  {queries:>5} SQL"
                    )
                print(f"slowest dashboard page p95: {worst:.0f} ms (target: under 200 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.runs))
