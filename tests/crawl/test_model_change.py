"""A model change (an upgrade, a provider switch) re-embeds what the old model embedded."""

from __future__ import annotations

import sqlalchemy as sa

from deskpilot.crawl import tasks as crawl_tasks
from deskpilot.crawl.resources import embedder_for
from deskpilot.db import transaction
from deskpilot.models import Chunk
from tests.crawl.conftest import wait_for_job


async def test_chunks_of_another_model_are_embedded_again(client, org, site, app, sessionmaker):
    created = await client.post("/crawl", json={"url": f"{site.base}/docs/"}, headers=org.headers)
    await wait_for_job(client, org, created.json()["id"])
    async with transaction(sessionmaker) as db:
        await db.execute(
            sa.update(Chunk).values(
                embedding_model="an-older-model",
                embedding=b"\0" * 16,  # another dimension
            )
        )
    ctx = app.state.deskpilot.tasks
    ctx.resources.pop("embeddings_checked", None)
    # The old vectors cannot serve (wrong size): search falls back to lexical, no error.
    found = await client.post("/knowledge/search", json={"query": "zebra3"}, headers=org.headers)
    assert found.status_code == 200
    assert found.json()["items"][0]["url"].endswith("/docs/topic-3.html")
    await crawl_tasks.scheduler_tick(ctx)
    await app.state.deskpilot.queue.wait_idle()
    model = embedder_for(ctx).model_id
    async with sessionmaker() as db:
        models = set(await db.scalars(sa.select(Chunk.embedding_model).distinct()))
        waiting = await db.scalar(
            sa.select(sa.func.count()).select_from(Chunk).where(Chunk.has_embedding.is_(False))
        )
    assert models == {model} and waiting == 0
    # Checked once per process: a second tick finds nothing to do.
    assert await crawl_tasks.requeue_other_models(ctx) == 0
