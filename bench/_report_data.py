"""A month of conversations for the reports page's screenshot: visitors talk to the real AI
through the widget API (answers, handoffs for every reason the agent gives, auto-tags),
resolve, rate and get taken over; then each conversation is moved back in time in the
server's SQLite file, so the plots span four weeks.

Only the timestamps are rewritten, all of one conversation by the same amount: what the
reports count is what the running system recorded."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from _live import Live, Org

WIDGET = "/backend/widget/v2"
TAGS = {
    "Shipping": "Delivery times, shipping costs and parcels on their way",
    "Returns": "Returning an item and getting a refund",
    "Payments": "Payment methods, cards and when they are charged",
    "Account": "Passwords, email address and account settings",
}
TOPICS = ["legal complaints and lawsuits"]
ANSWERED = [
    "How long does standard delivery take?",
    "Is shipping free?",
    "How do I return an item?",
    "When will I get my refund?",
    "How do I reset my password?",
    "Which payment methods do you accept?",
    "How can I change my email address?",
    "When is my card charged?",
]
HANDED_OFF = [
    "Do you have a shop in Berlin where I can pick up my order?",
    "Can you engrave my name on the backpack?",
    "I want to talk to a real person.",
    "Is there a human agent available?",
    "This is ridiculous, my parcel is late AGAIN!!",
    "Your delivery service is useless.",
    "Can you please cancel my order from yesterday?",
    "Please refund my order, the jacket arrived torn.",
    "I am preparing legal complaints and a lawsuit about a damaged tent.",
]
SCORE_WEIGHTS = {1: 1, 2: 1, 3: 2, 4: 4, 5: 6}
TIMESTAMPS = {
    "chat_sessions": (
        "id",
        ("created_at", "updated_at", "last_message_at", "handoff_at", "closed_at"),
    ),
    "chat_events": ("session_id", ("created_at", "reply_claimed_at")),
    "widget_sessions": ("session_id", ("created_at",)),
    "widget_messages": ("session_id", ("created_at",)),
    "widget_csat": ("session_id", ("created_at",)),
}
STORED = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a datetime in SQLite


@dataclass(frozen=True)
class Script:
    questions: list[str]
    resolve: bool = False
    takeover: bool = False
    score: int | None = None
    days_ago: int = 0


def scripts(count: int, seed: int = 6) -> list[Script]:
    """A mix a support team sees: mostly answered, some handed off, a few taken over;
    more on weekdays than at the weekend."""
    rng = random.Random(seed)
    days = [d for d in range(28) for _ in range(1 if (d % 7) in (1, 2) else 3)]
    made = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.55:
            questions = rng.sample(ANSWERED, rng.choice((1, 1, 2)))
            resolve, takeover = rng.random() < 0.7, False
        elif roll < 0.92:
            questions = [*rng.sample(ANSWERED, rng.choice((0, 1))), HANDED_OFF[n % len(HANDED_OFF)]]
            resolve, takeover = False, False
        else:
            questions, resolve, takeover = [rng.choice(ANSWERED)], False, True
        score = None
        if rng.random() < 0.6:
            low = 0 if resolve else 2  # unresolved conversations rate lower
            weights = [w if s > low else w * 2 for s, w in SCORE_WEIGHTS.items()]
            score = rng.choices(list(SCORE_WEIGHTS), weights=weights)[0]
        made.append(Script(questions, resolve, takeover, score, rng.choice(days)))
    return made


def configure(live: Live, org: Org) -> None:
    """Tags for the auto-tagger and an autopilot topic the AI must leave to the team."""
    for name, description in TAGS.items():
        httpx.put(
            f"{live.base}/tags",
            json={"tag_name": name, "description": description},
            headers=org.headers,
        ).raise_for_status()
    httpx.patch(
        f"{live.base}/autopilot", json={"topics": TOPICS}, headers=org.headers
    ).raise_for_status()


async def _talk(http: httpx.AsyncClient, live: Live, org: Org, n: int, script: Script) -> str:
    bot = {"X-Bot-Token": org.widget_token}
    contact = await http.post(
        f"{WIDGET}/contact/create-unverified",
        json={"non_verified_name": f"Visitor {n + 1}"},
        headers=bot,
    )
    contact.raise_for_status()
    headers = {**bot, "Authorization": f"Bearer {contact.json()['token']}"}
    created = await http.post(f"{WIDGET}/create-session", json={}, headers=headers)
    created.raise_for_status()
    session_id: str = created.json()["id"]
    for question in script.questions:
        sent = await http.post(
            f"{WIDGET}/chat/send",
            json={
                "uuid": str(uuid.uuid4()),
                "content": question,
                "session_id": session_id,
                "bot_token": org.widget_token,
            },
            headers=headers,
        )
        sent.raise_for_status()
    if script.takeover:
        took = await http.post(
            f"/chat/sessions/{session_id}/send",
            json={
                "sender": "agent",
                "agent": {"id": 1, "name": "Sam Rivera"},
                "message": {"text": "Let me look into this for you."},
                "should_take_over_session_from_ai": True,
            },
            headers=org.headers,
        )
        took.raise_for_status()
    if script.resolve:
        resolved = await http.post(
            f"{WIDGET}/session/resolve", json={"session_id": session_id}, headers=headers
        )
        resolved.raise_for_status()
    if script.score is not None:
        rated = await http.post(
            f"{WIDGET}/submit-csat",
            json={"session_id": session_id, "score": script.score},
            headers=headers,
        )
        rated.raise_for_status()
    return session_id


async def _converse(live: Live, org: Org, plan: list[Script]) -> list[str]:
    async with httpx.AsyncClient(base_url=live.base, timeout=90) as http:
        return [await _talk(http, live, org, n, script) for n, script in enumerate(plan)]


def backdate(database: Path, moves: dict[str, timedelta]) -> None:
    """Every timestamp of each conversation, earlier by its amount."""
    with sqlite3.connect(database, timeout=30) as db:
        for session_id, delta in moves.items():
            key = uuid.UUID(session_id).hex
            for table, (column_key, columns) in TIMESTAMPS.items():
                for column in columns:
                    rows = db.execute(
                        f"SELECT rowid, {column} FROM {table} "
                        f"WHERE {column_key} = ? AND {column} IS NOT NULL",
                        (key,),
                    ).fetchall()
                    for rowid, value in rows:
                        moved = datetime.fromisoformat(value) - delta
                        db.execute(
                            f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                            (moved.strftime(STORED), rowid),
                        )


def seed_reports(live: Live, org: Org, count: int = 40) -> None:
    configure(live, org)
    plan = scripts(count)
    session_ids = asyncio.run(_converse(live, org, plan))
    rng = random.Random(11)
    moves = {
        session_id: timedelta(days=script.days_ago, hours=rng.uniform(0, 6))
        for session_id, script in zip(session_ids, plan, strict=True)
        if script.days_ago
    }
    backdate(Path(live.env["DATA_DIR"]) / "deskpilot.db", moves)
