"""Crawl + index a real documentation site served from 127.0.0.1, end to end through the
job runner the product uses (fetch → extract → chunk → store → embed), then an unchanged
re-crawl and search latency. Prints every figure issue 3 asks for.

    .venv/bin/python bench/crawl_index.py [--root /usr/share/doc/postgresql-doc-15/html]
    .venv/bin/python bench/crawl_index.py --root /usr/share/doc/python-django-doc/html \
        --eval ../shared/eval/django_qa.jsonl

Figures: pages/s; chunks; time until every page is stored (lexically searchable) and until
every chunk is embedded; peak memory; the ratio of wall time to the embedding model's own
time for the same chunk texts (measured in the same process afterwards); the re-crawl's
wall time and how many texts it embedded; search p50/p95 over the crawled index.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.crawl import service as crawl_service
from deskpilot.crawl.resources import LazyEmbedder, close_resources
from deskpilot.crawl.schemas import DatasourceCreate
from deskpilot.crawl.tasks import TASKS, run_crawl
from deskpilot.indexing import Vectors, context_prefix
from deskpilot.jobs import InProcessQueue, TaskContext
from deskpilot.knowledge.service import KnowledgeBase
from deskpilot.models import Chunk, CrawlJob, Page
from deskpilot.org import service as org_service
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import OrgCreate
from deskpilot.retrieval import KnowledgeIndex, Retriever

QUERIES = [
    "how do I create an index concurrently without locking writes",
    "what does VACUUM FULL do and when should I use it",
    "change the default port postgres listens on",
    "how to make a column auto increment",
    "difference between json and jsonb",
    "how do I grant select on all tables in a schema",
    "restore a dump made with pg_dump",
    "set up streaming replication",
    "what is the maximum size of a text field",
    "explain analyze output meaning",
    "how to write a recursive query with a CTE",
    "configure shared_buffers",
    "row level security policy example",
    "how to upsert with on conflict",
    "list all databases from psql",
]


class CountingEmbedder(LazyEmbedder):
    """The product's embedder, counting the texts it embeds."""

    texts = 0

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts += len(texts)
        return await super().embed(texts)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


async def counts(sessionmaker, job_id: uuid.UUID) -> tuple[CrawlJob, int, int, int]:
    async with sessionmaker() as session:
        job = await session.get(CrawlJob, job_id)
        pending = await session.scalar(
            sa.select(sa.func.count()).select_from(Page).where(Page.status == "pending")
        )
        chunks = await session.scalar(sa.select(sa.func.count()).select_from(Chunk))
        embedded = await session.scalar(
            sa.select(sa.func.count()).select_from(Chunk).where(Chunk.has_embedding.is_(True))
        )
    assert job is not None
    return job, pending or 0, chunks or 0, embedded or 0


async def crawl_once(
    ctx: TaskContext, org_id: uuid.UUID, datasource_id: uuid.UUID | None, url: str, limit: int
):
    async with database.transaction(ctx.sessionmaker) as session:
        if datasource_id is None:
            datasource, job = await crawl_service.create_datasource(
                session,
                org_id=org_id,
                data=DatasourceCreate(url=url, page_limit=limit, auto_start_crawl=True),  # type: ignore[arg-type]
            )
            datasource_id = datasource.id
        else:
            datasource = await crawl_service.get_datasource(
                session, org_id=org_id, datasource_id=datasource_id
            )
            job = await crawl_service.start_crawl(session, datasource=datasource, trigger="manual")
        assert job is not None
        job_id = job.id
    started = time.perf_counter()
    runner = asyncio.create_task(run_crawl(ctx, job_id=str(job_id)))
    stored_at = None
    while not runner.done():
        await asyncio.sleep(0.25)
        job, pending, chunks, embedded = await counts(ctx.sessionmaker, job_id)
        if (
            stored_at is None
            and job.total_pages
            and job.completed_pages >= job.total_pages
            and pending == 0
        ):
            stored_at = time.perf_counter() - started
    await runner
    wall = time.perf_counter() - started
    job, _, chunks, embedded = await counts(ctx.sessionmaker, job_id)
    return datasource_id, job, wall, stored_at or wall, chunks, embedded


async def evaluate(
    knowledge: KnowledgeBase, session, org_id: uuid.UUID, base: str, path: Path
) -> None:
    """hit@1, hit@5 and MRR@10 on gold pages (a page ranked by its best chunk), through the
    same search the AI uses."""
    import json

    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    answerable = [item for item in items if item["answerable"]]
    hits1 = hits5 = 0
    reciprocal = 0.0
    for item in answerable:
        results = await knowledge.search_hits(
            session, org_id=org_id, query=item["question"], limit=50
        )
        pages: list[str] = []
        for hit in results:
            page = hit.chunk.url.removeprefix(base)
            if page not in pages:
                pages.append(page)
        gold = set(item["gold_pages"])
        rank = next((i for i, page in enumerate(pages[:10], 1) if page in gold), None)
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0.0
    n = len(answerable)
    print(
        f"retrieval on {path.name} ({n} answerable)  hit@1 {hits1 / n:.3f}  hit@5 {hits5 / n:.3f}  MRR@10 {reciprocal / n:.3f}"
    )
    top = []
    for item in items:
        results = await knowledge.search_hits(
            session, org_id=org_id, query=item["question"], limit=1
        )
        top.append((item["answerable"], results[0].score if results else 0.0))
    kept = sorted(score for answerable_, score in top if answerable_)
    threshold = kept[int(len(kept) * 0.05)] if kept else 0.0
    below = [score for answerable_, score in top if not answerable_ and score < threshold]
    unanswerable = sum(1 for answerable_, _ in top if not answerable_)
    print(
        f"top-1 score threshold keeping 95% of answerable items: {threshold:.3f}; "
        f"unanswerable below it: {len(below)}/{unanswerable}"
    )


async def main(args: argparse.Namespace) -> None:
    root = Path(args.root)
    data_dir = Path(tempfile.mkdtemp(prefix="deskpilot-bench-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATA_DIR=data_dir,
        DATABASE_URL=args.database_url,
        CRAWLER_ALLOW_PRIVATE_NETWORKS=True,
        CRAWLER_POLITENESS_DELAY_SECONDS=0,
        CRAWLER_CONCURRENCY=8,
        CRAWLER_CONCURRENCY_PER_HOST=8,
        LOG_LEVEL="WARNING",
    )
    # The model files are built once per install; reuse the bench cache across runs.
    models = Path(args.model_cache)
    models.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(models.resolve())
    database.upgrade(settings)
    engine = database.create_engine(settings)
    sessionmaker = database.create_sessionmaker(engine)
    embedder = CountingEmbedder(settings)
    load_started = time.perf_counter()
    await embedder.load()
    print(
        f"model load                 {time.perf_counter() - load_started:8.1f} s (not in the crawl's time)"
    )
    ctx = TaskContext(
        settings=settings,
        sessionmaker=sessionmaker,
        queue=InProcessQueue(TASKS),
        resources={"embedder": embedder},
    )
    async with database.transaction(sessionmaker) as session:
        partner = await partner_service.create_partner(session, name="Bench")
        org = await org_service.create_org(
            session, partner_id=partner.partner.id, data=OrgCreate(name="Docs")
        )
        org_id = org.id
    server, base = serve(root)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        ds_id, job, wall, stored, chunks, embedded = await crawl_once(
            ctx, org_id, None, base, args.page_limit
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"first crawl                status {job.status}, {job.completed_pages} pages "
            f"({job.new_pages} indexed), {chunks} chunks, {embedded} embedded"
        )
        print(
            f"  all pages stored (lexical search ready)  {stored:8.1f} s  ({job.completed_pages / stored:.1f} pages/s)"
        )
        print(f"  fully embedded (job completed)           {wall:8.1f} s")
        print(f"  texts embedded                           {embedder.texts}")
        print(
            f"  peak RSS                                 {peak / 1024:8.0f} MiB (before crawl {rss_before / 1024:.0f} MiB)"
        )

        if not args.skip_model_time:
            # The model alone, same process, same texts.
            async with sessionmaker() as session:
                rows = (
                    await session.execute(
                        sa.select(Chunk.text, Chunk.heading_path, Page.title, Page.url).join(
                            Page, Page.id == Chunk.page_id
                        )
                    )
                ).all()
            texts = [
                context_prefix(title or url, tuple(h or ())) + text for text, h, title, url in rows
            ]
            started = time.perf_counter()
            for i in range(0, len(texts), 256):
                await embedder.embed(texts[i : i + 256])
            model_time = time.perf_counter() - started
            print(
                f"  embedding model alone, same texts        {model_time:8.1f} s  ({len(texts) / model_time:.1f} chunks/s)"
            )
            print(f"  wall / model time                        {wall / model_time:8.2f}")

        embedder.texts = 0
        _, job, wall2, _, chunks2, _ = await crawl_once(ctx, org_id, ds_id, base, args.page_limit)
        print(
            f"unchanged re-crawl         status {job.status}, {wall2:.1f} s, unchanged {job.unchanged_pages}, "
            f"updated {job.updated_pages}, new {job.new_pages}, removed {job.removed_pages}, "
            f"texts embedded {embedder.texts}"
        )

        index = KnowledgeIndex(dimension=embedder.dimension)
        knowledge = KnowledgeBase(index, Retriever(index, embedder))
        async with sessionmaker() as session:
            started = time.perf_counter()
            await knowledge.sync(session, org_id=org_id)
            print(
                f"index load from database   {time.perf_counter() - started:8.2f} s for {chunks2} chunks"
            )
            samples = []
            for _ in range(args.repeat):
                for query in QUERIES:
                    t = time.perf_counter()
                    await knowledge.search_hits(session, org_id=org_id, query=query, limit=10)
                    samples.append((time.perf_counter() - t) * 1000)
            p50 = statistics.median(samples)
            p95 = float(np.percentile(samples, 95))
            print(
                f"search (embed query + hybrid, {len(samples)} runs)  p50 {p50:.1f} ms  p95 {p95:.1f} ms"
            )
            if args.eval:
                await evaluate(knowledge, session, org_id, base, Path(args.eval))
    finally:
        server.shutdown()
        await close_resources(ctx)
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="/usr/share/doc/postgresql-doc-15/html")
    parser.add_argument("--page-limit", type=int, default=5000)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument("--model-cache", default="bench/out/models")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--eval", default="", help="a JSONL evaluation set over the crawled site")
    parser.add_argument(
        "--skip-model-time", action="store_true", help="skip timing the model alone afterwards"
    )
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main(parser.parse_args()))
