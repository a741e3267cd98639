"""`published_for_turn`: what the AI applies to one turn (never drafts, only in window,
channel and segment restrictions honoured)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from deskpilot.db import transaction
from deskpilot.training import service

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


async def create(client, org, title, **body):
    payload = {"title": title, "content": f"Instructions for {title}.", **body}
    response = await client.post("/training", json=payload, headers=org.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def titles(sessionmaker, org, *, channel="web", segments=(), now=NOW):
    async with transaction(sessionmaker) as session:
        entries = await service.published_for_turn(
            session, org_id=uuid.UUID(org.id), channel=channel, segments=segments, now=now
        )
    return [entry.title for entry in entries]


class TestPublishedForTurn:
    async def test_drafts_never_count_and_live_text_serves(self, client, org, sessionmaker):
        await create(client, org, "Draft only", is_draft=True)
        live = await create(client, org, "Live entry", type="BEHAVIORAL")
        await client.put(
            f"/training/{live}",
            json={"is_draft": True, "title": "Pending rename"},
            headers=org.headers,
        )
        async with transaction(sessionmaker) as session:
            entries = await service.published_for_turn(
                session, org_id=uuid.UUID(org.id), channel="web", segments=[], now=NOW
            )
        assert [(e.title, e.type, e.version) for e in entries] == [("Live entry", "BEHAVIORAL", 1)]

    async def test_unpublished_entry_leaves(self, client, org, sessionmaker):
        entry = await create(client, org, "Soon hidden")
        await client.put(f"/training/{entry}/draft", json={"is_draft": True}, headers=org.headers)
        assert await titles(sessionmaker, org) == []

    async def test_time_window(self, client, org, sessionmaker):
        await create(client, org, "Future", start_time="2025-03-05T00:00:00Z")
        await create(client, org, "Expired", end_time="2025-03-04T12:00:00Z")
        await create(
            client,
            org,
            "Current",
            start_time="2025-03-04T12:00:00Z",
            end_time="2025-03-04T12:00:01Z",
        )
        assert await titles(sessionmaker, org) == ["Current"]

    async def test_channel_restriction(self, client, org, sessionmaker):
        await create(client, org, "Email only", restricted_to_channels=["email"])
        await create(client, org, "Everywhere")
        assert await titles(sessionmaker, org, channel="web") == ["Everywhere"]
        assert await titles(sessionmaker, org, channel="email") == ["Email only", "Everywhere"]

    async def test_segment_restriction(self, client, org, sessionmaker):
        await create(client, org, "VIP only", restricted_to_segments=["VIP", "partners"])
        await create(client, org, "Everyone")
        assert await titles(sessionmaker, org) == ["Everyone"]
        assert await titles(sessionmaker, org, segments=["vip"]) == ["VIP only", "Everyone"]

    async def test_other_orgs_entries_never_leak(self, client, org, other_org, sessionmaker):
        await create(client, other_org, "Theirs")
        assert await titles(sessionmaker, org) == []
