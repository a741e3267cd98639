"""The `knowledge_changes` log is pruned; a process that has not looked at an org for long
reloads it whole instead of trusting a log that may have lost rows it never saw."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.knowledge import service as knowledge_service
from deskpilot.models import Chunk, KnowledgeChange, utcnow
from tests.agent.conftest import crawl, support_site
from tests.site import serve


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


async def _log(sessionmaker) -> list[tuple[uuid.UUID, int]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            sa.select(KnowledgeChange.org_id, KnowledgeChange.seq).order_by(KnowledgeChange.seq)
        )
        return [(org_id, seq) for org_id, seq in rows]


async def test_old_rows_go_but_each_orgs_latest_stays(sessionmaker, org, other_org) -> None:
    now = utcnow()
    mine, theirs = uuid.UUID(org.id), uuid.UUID(other_org.id)
    async with transaction(sessionmaker) as session:
        for org_id, age_hours in ((mine, 50), (mine, 49), (theirs, 48), (mine, 30), (mine, 1)):
            session.add(
                KnowledgeChange(
                    org_id=org_id,
                    page_id=uuid.uuid4(),
                    created_at=now - timedelta(hours=age_hours),
                )
            )
    before = await _log(sessionmaker)
    async with transaction(sessionmaker) as session:
        pruned = await knowledge_service.prune_log(session, now=now)
    after = await _log(sessionmaker)
    assert pruned == 3
    # Kept: the other org's only (old) row, my row of the last 24 hours.
    assert after == [before[2], before[4]]


async def test_a_stale_process_reloads_the_org_whole(client, app, sessionmaker, org) -> None:
    with serve(support_site()) as site:
        await crawl(client, org, f"{site.base}/help/")
    knowledge = app.state.deskpilot.knowledge

    async def urls() -> set[str]:
        async with sessionmaker() as session:
            hits = await knowledge.search(
                session, org_id=uuid.UUID(org.id), query="return an item refunds", limit=10
            )
        return {hit.url for hit in hits}

    assert any(url.endswith("/returns.html") for url in await urls())
    # A change whose log row was pruned before this process saw it.
    async with transaction(sessionmaker) as session:
        await session.execute(
            sa.delete(Chunk).where(
                Chunk.org_id == uuid.UUID(org.id),
                Chunk.page_id.in_(
                    sa.select(Chunk.page_id).where(Chunk.text.contains("return any unused item"))
                ),
            )
        )
    assert any(url.endswith("/returns.html") for url in await urls())  # not seen: no log row
    knowledge._synced_at[uuid.UUID(org.id)] = time.monotonic() - 13 * 3600
    assert not any(url.endswith("/returns.html") for url in await urls())
