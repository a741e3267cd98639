"""Background tasks of the knowledge feature: run a crawl job, re-fetch one page, embed
stored chunks, and the scheduler's tick. The database is the source of truth: every page
result is committed as it arrives, so a runner killed at any point resumes where it
stopped, and the job's lease tells the scheduler when a runner has died."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.crawl import scheduling
from deskpilot.crawl.resources import chunker_for, crawler_for, embedder_for
from deskpilot.crawl.service import log_changes
from deskpilot.crawler import CrawlSpec, CrawlStatus, KnownPage, PageOutcome, PageResult
from deskpilot.db import transaction
from deskpilot.indexing import context_prefix
from deskpilot.jobs import TaskContext, TaskFunction, due_every
from deskpilot.knowledge import service as knowledge_service
from deskpilot.models import Chunk, CrawlJob, Datasource, Page, utcnow
from deskpilot.webhooks import payloads as webhook_events

log = structlog.get_logger()

EMBED_BATCH = 256
CANCEL_POLL_SECONDS = 0.5


# --- leases ---


async def _acquire_lease(ctx: TaskContext, job_id: uuid.UUID) -> bool:
    now = utcnow()
    async with transaction(ctx.sessionmaker) as session:
        result = await session.execute(
            sa.update(CrawlJob)
            .where(
                CrawlJob.id == job_id,
                CrawlJob.status.in_(("pending", "scraping")),
                # Never re-entrant: a second delivery of a job to the process already
                # running it must not start a second run.
                sa.or_(CrawlJob.lease_expires_at.is_(None), CrawlJob.lease_expires_at < now),
            )
            .values(
                lease_owner=ctx.runner_id,
                lease_expires_at=now + timedelta(seconds=ctx.settings.JOBS_LEASE_SECONDS),
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _watch(ctx: TaskContext, job_id: uuid.UUID, stop: asyncio.Event) -> None:
    """Renew the lease and watch for cancellation until told to stop; sets `stop` when the
    job was cancelled or the lease lost, so the crawl stops fetching at once."""
    lease = ctx.settings.JOBS_LEASE_SECONDS
    renew_every = max(1.0, lease / 3)
    last_renewal = asyncio.get_running_loop().time()
    while not stop.is_set():
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        now_loop = asyncio.get_running_loop().time()
        async with transaction(ctx.sessionmaker) as session:
            if now_loop - last_renewal >= renew_every:
                renewed = await session.execute(
                    sa.update(CrawlJob)
                    .where(CrawlJob.id == job_id, CrawlJob.lease_owner == ctx.runner_id)
                    .values(lease_expires_at=utcnow() + timedelta(seconds=lease))
                )
                last_renewal = now_loop
                if renewed.rowcount != 1:  # type: ignore[attr-defined]
                    stop.set()
                    return
            status = await session.scalar(sa.select(CrawlJob.status).where(CrawlJob.id == job_id))
        if status not in ("pending", "scraping"):
            stop.set()


async def _release(ctx: TaskContext, job_id: uuid.UUID) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(
            sa.update(CrawlJob)
            .where(CrawlJob.id == job_id, CrawlJob.lease_owner == ctx.runner_id)
            .values(lease_owner=None, lease_expires_at=None)
        )


# --- persisting results ---


async def _find_page(session: AsyncSession, datasource_id: uuid.UUID, url: str) -> Page | None:
    return (
        await session.scalars(
            sa.select(Page).where(Page.datasource_id == datasource_id, Page.url == url)
        )
    ).first()


async def _queue_discovered(
    session: AsyncSession, *, job: CrawlJob, urls: Sequence[str], depth: int
) -> None:
    """Persist the frontier: a resumed run starts from these."""
    if not urls:
        return
    existing = dict(
        (
            await session.execute(
                sa.select(Page.url, Page.id).where(
                    Page.datasource_id == job.datasource_id, Page.url.in_(list(urls))
                )
            )
        )
        .tuples()
        .all()
    )
    now = utcnow()
    for url in urls:
        if url in existing:
            await session.execute(
                sa.update(Page)
                .where(
                    Page.id == existing[url],
                    Page.status != "excluded",
                    sa.or_(Page.visit_job_id.is_(None), Page.visit_job_id != job.id),
                )
                .values(visit_job_id=job.id, visit_state="queued")
            )
        else:
            session.add(
                Page(
                    org_id=job.org_id,
                    datasource_id=job.datasource_id,
                    url=url,
                    status="pending",
                    visit_job_id=job.id,
                    visit_state="queued",
                    depth=depth,
                    created_at=now,
                    updated_at=now,
                )
            )


async def _store_chunks(
    ctx: TaskContext, session: AsyncSession, *, page: Page, result: PageResult
) -> None:
    """Replace the page's chunks; a chunk whose text is unchanged keeps its vector."""
    assert result.page is not None
    chunks = chunker_for(ctx).chunk(result.page, page_key=str(page.id))
    model_id = embedder_for(ctx).model_id
    # Only vectors of the model in use are reusable (not those of a replaced model).
    old = {
        row.content_hash: row.embedding
        for row in await session.scalars(
            sa.select(Chunk).where(
                Chunk.page_id == page.id,
                Chunk.has_embedding.is_(True),
                Chunk.embedding_model == model_id,
            )
        )
    }
    await session.execute(sa.delete(Chunk).where(Chunk.page_id == page.id))
    now = utcnow()
    rows = []
    for chunk in chunks:
        vector = old.get(chunk.content_hash)
        rows.append(
            {
                "org_id": page.org_id,
                "datasource_id": page.datasource_id,
                "page_id": page.id,
                "ordinal": chunk.ordinal,
                "chunk_key": chunk.chunk_id,
                "quality": chunk.quality,
                "heading_path": list(chunk.heading_path),
                "text": chunk.text,
                "content_hash": chunk.content_hash,
                "has_embedding": vector is not None,
                "embedding": vector,
                "embedding_model": model_id if vector is not None else None,
                "created_at": now,
            }
        )
    if rows:
        await session.execute(sa.insert(Chunk), rows)


async def _remove_page(session: AsyncSession, page: Page) -> bool:
    """Delete the page and its chunks; True when it had been part of the knowledge base."""
    was_synced = page.last_synced_at is not None
    await session.execute(sa.delete(Chunk).where(Chunk.page_id == page.id))
    await log_changes(session, org_id=page.org_id, page_ids=[page.id])
    await session.delete(page)
    return was_synced


async def persist_result(
    ctx: TaskContext,
    session: AsyncSession,
    *,
    job: CrawlJob | None,
    page_of: tuple[uuid.UUID, uuid.UUID],
    result: PageResult,
) -> Counter[str]:
    """Store one result. `page_of` is (org_id, datasource_id); `job` is the crawl job whose
    frontier this result advances, or None for a one-page resync."""
    org_id, datasource_id = page_of
    counters: Counter[str] = Counter()
    page = await _find_page(session, datasource_id, result.url)
    now = utcnow()
    outcome = result.outcome
    if page is not None and page.status == "excluded":
        return counters
    if outcome in (PageOutcome.NEW, PageOutcome.UPDATED):
        if page is None:
            page = Page(org_id=org_id, datasource_id=datasource_id, url=result.url)
            session.add(page)
            await session.flush()
        was_synced = page.last_synced_at is not None
        assert result.page is not None
        page.title = (result.page.title or "")[:500] or None
        page.language = (result.page.language or None) and result.page.language[:8]
        page.content = result.page.text
        page.content_length = len(page.content)
        page.content_hash = result.content_hash
        page.etag = result.etag
        page.last_modified = result.last_modified
        page.http_status = result.http_status
        page.status = "synced"
        page.error_message = None
        page.last_synced_at = now
        await _store_chunks(ctx, session, page=page, result=result)
        await log_changes(session, org_id=page.org_id, page_ids=[page.id])
        counters["updated_pages" if was_synced else "new_pages"] += 1
    elif outcome is PageOutcome.UNCHANGED:
        if page is not None:
            page.status = "synced"
            page.error_message = None
            page.http_status = result.http_status or page.http_status
            page.etag = result.etag or page.etag
            page.last_modified = result.last_modified or page.last_modified
            page.last_synced_at = now
        counters["unchanged_pages"] += 1
    elif outcome in (PageOutcome.GONE, PageOutcome.SKIPPED):
        if page is not None and await _remove_page(session, page):
            counters["removed_pages"] += 1
        page = None
    else:  # FAILED: keep what was indexed, say why
        if page is None:
            page = Page(org_id=org_id, datasource_id=datasource_id, url=result.url)
            session.add(page)
        page.status = "error"
        page.http_status = result.http_status
        reason = result.reason.value if result.reason else "error"
        page.error_message = f"{reason}: {result.error}" if result.error else reason
    if page is not None:
        if job is not None:
            page.visit_job_id = job.id
            page.visit_state = "done"
        page.updated_at = now
    counters["completed_pages"] += 1
    if job is not None:
        await _queue_discovered(
            session, job=job, urls=result.discovered, depth=(page.depth or 0) + 1 if page else 1
        )
    return counters


async def _apply_counters(
    session: AsyncSession, job_id: uuid.UUID, counters: Counter[str], total: int | None
) -> None:
    values: dict[str, Any] = {
        name: getattr(CrawlJob, name) + amount for name, amount in counters.items()
    }
    if total is not None:
        values["total_pages"] = total
    values["updated_at"] = utcnow()
    await session.execute(
        sa.update(CrawlJob)
        .where(CrawlJob.id == job_id, CrawlJob.status == "scraping")
        .values(**values)
    )


# --- embedding ---


async def _unembedded(
    ctx: TaskContext, datasource_id: uuid.UUID, after_id: int
) -> list[sa.Row[Any]]:
    async with ctx.sessionmaker() as session:
        return list(
            (
                await session.execute(
                    sa.select(
                        Chunk.id,
                        Chunk.page_id,
                        Chunk.org_id,
                        Chunk.text,
                        Chunk.heading_path,
                        Page.title,
                        Page.url,
                    )
                    .join(Page, Page.id == Chunk.page_id)
                    .where(
                        Chunk.datasource_id == datasource_id,
                        Chunk.has_embedding.is_(False),
                        Chunk.id > after_id,
                    )
                    .order_by(Chunk.id)
                    .limit(EMBED_BATCH)
                )
            ).all()
        )


async def _store_vectors(
    ctx: TaskContext, rows: Sequence[sa.Row[Any]], vectors: Any, model_id: str
) -> None:
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(
            sa.update(Chunk),
            [
                {
                    "id": row[0],
                    "embedding": np.asarray(vector, dtype=np.float32).tobytes(),
                    "has_embedding": True,
                    "embedding_model": model_id,
                }
                for row, vector in zip(rows, vectors, strict=True)
            ],
        )
        await log_changes(session, org_id=rows[0][2], page_ids=sorted({row[1] for row in rows}))


async def embed_pending(ctx: TaskContext, *, datasource_id: uuid.UUID) -> int:
    """Embed every stored chunk of the datasource that has no vector yet; returns how many.

    Pipelined: the next batch is embedding (in the model's thread) while the previous
    batch's vectors are written, so the model never waits for the database."""
    embedder = embedder_for(ctx)
    done, last_id = 0, 0
    waiting: tuple[Sequence[sa.Row[Any]], Any] | None = None
    while True:
        rows = await _unembedded(ctx, datasource_id, last_id)
        running = None
        if rows:
            texts = [
                context_prefix(title or url, tuple(headings or ())) + text
                for _, _, _, text, headings, title, url in rows
            ]
            running = asyncio.create_task(embedder.embed(texts))
            last_id = rows[-1][0]
        if waiting is not None:
            await _store_vectors(ctx, waiting[0], waiting[1], embedder.model_id)
            done += len(waiting[0])
            waiting = None
        if running is None:
            return done
        waiting = (rows, await running)


async def _embedding_loop(
    ctx: TaskContext, datasource_id: uuid.UUID, wake: asyncio.Event, finished: asyncio.Event
) -> None:
    while True:
        await embed_pending(ctx, datasource_id=datasource_id)
        if finished.is_set():
            await embed_pending(ctx, datasource_id=datasource_id)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=1.0)
        wake.clear()


# --- the crawl job ---


async def _resume_state(
    session: AsyncSession, job: CrawlJob
) -> tuple[list[KnownPage], list[str], list[str], list[str]]:
    """What earlier crawls stored (known), what this job still has to do (pending), what
    it finished before it was interrupted (done) and what the org excluded (never fetched)."""
    pages = (
        await session.execute(
            sa.select(
                Page.url,
                Page.etag,
                Page.last_modified,
                Page.content_hash,
                Page.status,
                Page.visit_job_id,
                Page.visit_state,
                Page.last_synced_at,
            ).where(Page.datasource_id == job.datasource_id)
        )
    ).all()
    known, pending, done, excluded = [], [], [], []
    for url, etag, modified, digest, status, visit_job, visit_state, synced_at in pages:
        if status == "excluded":
            excluded.append(url)
            continue
        if visit_job == job.id and visit_state == "done":
            done.append(url)
            continue
        if visit_job == job.id and visit_state == "queued":
            pending.append(url)
        if synced_at is not None or digest is not None:
            known.append(KnownPage(url=url, etag=etag, last_modified=modified, content_hash=digest))
    return known, pending, done, excluded


async def _finish(ctx: TaskContext, job_id: uuid.UUID, status: str, error: str | None) -> None:
    now = utcnow()
    async with transaction(ctx.sessionmaker) as session:
        job = await session.get(CrawlJob, job_id)
        if job is None:
            return
        if job.status == "scraping" or (job.status == "pending" and status == "failed"):
            job.status = status
            job.error_message = error
            job.completed_at = now
            job.updated_at = now
            # In the transaction that ends the job: announced if and only if it ended here.
            await webhook_events.crawl_job_finished(session, job=job)
        datasource = await session.get(Datasource, job.datasource_id)
        if datasource is not None:
            if job.status == "completed":
                datasource.last_crawl_completed_at = now
                datasource.error_message = None
            elif job.status == "failed":
                datasource.error_message = error
            if datasource.status == "active" and datasource.crawl_interval_hours:
                datasource.next_crawl_at = now + timedelta(hours=datasource.crawl_interval_hours)


async def run_crawl(ctx: TaskContext, *, job_id: str) -> None:
    job_uuid = uuid.UUID(job_id)
    if not await _acquire_lease(ctx, job_uuid):
        log.info("crawl.lease_busy", job_id=job_id, runner=ctx.runner_id)
        return  # another runner holds it, or it already ended
    log.info("crawl.lease_acquired", job_id=job_id, runner=ctx.runner_id)
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(ctx, job_uuid, stop))
    try:
        await _run_leased(ctx, job_uuid, stop)
    finally:
        stop.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await _release(ctx, job_uuid)


async def _run_leased(ctx: TaskContext, job_id: uuid.UUID, stop: asyncio.Event) -> None:
    now = utcnow()
    async with transaction(ctx.sessionmaker) as session:
        job = await session.get(CrawlJob, job_id)
        assert job is not None
        datasource = await session.get(Datasource, job.datasource_id)
        if datasource is None:
            return
        if job.status == "pending":
            job.status = "scraping"
            job.started_at = now
            datasource.last_crawl_started_at = now
        rules = dict(job.rules or {})
        known, pending, done, excluded = await _resume_state(session, job)
        org_id, datasource_id = job.org_id, job.datasource_id
    log.info("crawl.started", job_id=str(job_id), resumed=bool(done), pending=len(pending))
    spec = CrawlSpec(
        start_url=str(rules.get("url")),
        include_paths=tuple(rules.get("include_paths") or ()),  # type: ignore[arg-type]
        exclude_paths=tuple(rules.get("exclude_paths") or ()),  # type: ignore[arg-type]
        page_limit=int(rules.get("page_limit") or 100),  # type: ignore[call-overload]
    )
    wake, finished = asyncio.Event(), asyncio.Event()
    embedding = asyncio.create_task(_embedding_loop(ctx, datasource_id, wake, finished))
    status, error = "completed", None
    try:
        await embedder_for(ctx).load()  # the chunker counts tokens with the model's tokenizer
        async with crawler_for(ctx).crawl(
            spec, known=known, pending=pending, done=done, excluded=excluded
        ) as run:
            stopper = asyncio.create_task(_cancel_when(stop, run))
            try:
                async for result in run:
                    async with transaction(ctx.sessionmaker) as session:
                        job = await session.get(CrawlJob, job_id, with_for_update=True)
                        assert job is not None
                        # Only the lease holder writes: a runner that lost its lease (it
                        # stalled, another took over) stops here without touching anything.
                        if job.status != "scraping" or job.lease_owner != ctx.runner_id:
                            run.cancel()
                            break
                        counters = await persist_result(
                            ctx, session, job=job, page_of=(org_id, datasource_id), result=result
                        )
                        await _apply_counters(session, job_id, counters, run.stats.admitted)
                    wake.set()
            finally:
                stopper.cancel()
        summary = run.summary
        if stop.is_set() or summary is None or summary.status is CrawlStatus.CANCELLED:
            status = "cancelled"
        elif summary.status is CrawlStatus.FAILED:
            status, error = "failed", summary.error or "the crawl could not proceed"
    except Exception as exc:
        log.exception("crawl.crashed", job_id=str(job_id))
        status, error = "failed", f"internal error: {type(exc).__name__}"
    finally:
        finished.set()
        wake.set()
    try:
        await embedding
    except Exception as exc:
        log.exception("crawl.embedding_failed", job_id=str(job_id))
        if status == "completed":
            status, error = "failed", f"embedding failed: {type(exc).__name__}"
    if status != "cancelled":
        await _finish(ctx, job_id, status, error)
    log.info("crawl.finished", job_id=str(job_id), org_id=str(org_id), status=status)


async def _cancel_when(stop: asyncio.Event, run: Any) -> None:
    await stop.wait()
    run.cancel()


# --- one page ---


async def sync_page(ctx: TaskContext, *, page_id: str) -> None:
    """Re-fetch one page now (the resync endpoint), outside any crawl job."""
    async with ctx.sessionmaker() as session:
        page = await session.get(Page, uuid.UUID(page_id))
        if page is None or page.status == "excluded":
            return
        datasource = await session.get(Datasource, page.datasource_id)
        if datasource is None:
            return
        known = [KnownPage(url=page.url, content_hash=page.content_hash)]
        spec = CrawlSpec(
            start_url=page.url,
            include_paths=tuple(datasource.include_paths or ()),
            exclude_paths=tuple(datasource.exclude_paths or ()),
            page_limit=1,
        )
    target = (page.org_id, page.datasource_id)
    await embedder_for(ctx).load()
    async with crawler_for(ctx).crawl(spec, known=known) as run:
        async for result in run:
            async with transaction(ctx.sessionmaker) as session:
                await persist_result(ctx, session, job=None, page_of=target, result=result)
    await embed_pending(ctx, datasource_id=page.datasource_id)


# --- scheduler ---


async def requeue_other_models(ctx: TaskContext) -> int:
    """Chunks embedded by another model than this process's (an upgrade changed the model,
    the install switched provider) are queued for embedding again; their old vectors keep
    serving until then when the dimension allows. Checked once per process."""
    if ctx.resources.get("embeddings_checked"):
        return 0
    async with ctx.sessionmaker() as session:
        embedded = await session.scalar(
            sa.select(Chunk.id).where(Chunk.has_embedding.is_(True)).limit(1)
        )
    if embedded is None:
        return 0  # nothing embedded yet: no model to load for this check (asked again later)
    embedder = embedder_for(ctx)
    await embedder.load()
    async with transaction(ctx.sessionmaker) as session:
        result = await session.execute(
            sa.update(Chunk)
            .where(Chunk.has_embedding.is_(True), Chunk.embedding_model != embedder.model_id)
            .values(has_embedding=False)
            .execution_options(synchronize_session=False)
        )
    ctx.resources["embeddings_checked"] = True
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.info("crawl.reembedding", chunks=count, model=embedder.model_id)
    return count


async def scheduler_tick(ctx: TaskContext) -> None:
    """The crawl feature's periodic work (`deskpilot.tasks` calls it on every tick): start
    due re-crawls, hand orphaned jobs to a runner, embed leftover chunks (also those another
    model embedded), and prune the knowledge log hourly."""
    await requeue_other_models(ctx)
    if due_every(ctx, "prune_knowledge_log", 3600):
        async with transaction(ctx.sessionmaker) as session:
            pruned = await knowledge_service.prune_log(session, now=utcnow())
        if pruned:
            log.info("knowledge.log_pruned", rows=pruned)
    async with transaction(ctx.sessionmaker) as session:
        due = await scheduling.claim_due_recrawls(session)
    async with ctx.sessionmaker() as session:
        orphans = await scheduling.orphaned_jobs(session)
        leftovers = list(
            await session.scalars(
                sa.select(Chunk.datasource_id)
                .where(Chunk.has_embedding.is_(False))
                .where(
                    ~sa.exists().where(
                        CrawlJob.datasource_id == Chunk.datasource_id,
                        CrawlJob.status.in_(("pending", "scraping")),
                    )
                )
                .distinct()
            )
        )
    for job_id in [*due, *orphans]:
        await ctx.queue.enqueue("run_crawl", job_id=str(job_id))
    for datasource_id in leftovers:
        await ctx.queue.enqueue("embed_chunks", datasource_id=str(datasource_id))


async def embed_chunks(ctx: TaskContext, *, datasource_id: str) -> None:
    await embed_pending(ctx, datasource_id=uuid.UUID(datasource_id))


async def take_over_jobs(ctx: TaskContext) -> None:
    """Embedded mode: this server is the only runner, so jobs whose runner died with an
    earlier server process are resumed now instead of after their lease lapses."""
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(
            sa.update(CrawlJob)
            .where(CrawlJob.status.in_(("pending", "scraping")))
            .values(lease_owner=None, lease_expires_at=None)
        )
        job_ids = list(
            await session.scalars(
                sa.select(CrawlJob.id).where(CrawlJob.status.in_(("pending", "scraping")))
            )
        )
    for job_id in job_ids:
        await ctx.queue.enqueue("run_crawl", job_id=str(job_id))


TASKS: dict[str, TaskFunction] = {
    "run_crawl": run_crawl,
    "sync_page": sync_page,
    "embed_chunks": embed_chunks,
}
