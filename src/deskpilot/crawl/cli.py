"""`deskpilot crawl`: add (or re-crawl) a website for an org and watch the job to its end."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import sqlalchemy as sa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.crawl import service
from deskpilot.crawl.resources import LazyEmbedder, close_resources
from deskpilot.crawl.schemas import CrawlJobRead, DatasourceCreate
from deskpilot.crawl.tasks import TASKS, run_crawl
from deskpilot.errors import NotFound
from deskpilot.jobs import TaskContext, create_queue
from deskpilot.models import CrawlJob, Datasource
from deskpilot.org.service import find_live_org


async def _job_for(
    session: AsyncSession, *, org_id: uuid.UUID, url: str, page_limit: int
) -> CrawlJob:
    if await find_live_org(session, org_id=org_id) is None:
        raise NotFound("Org not found")
    normalised = service.normalise_start_url(url)
    datasource = (
        await session.scalars(
            sa.select(Datasource).where(Datasource.org_id == org_id, Datasource.url == normalised)
        )
    ).first()
    if datasource is None:
        _, job = await service.create_datasource(
            session,
            org_id=org_id,
            data=DatasourceCreate(url=url, page_limit=page_limit),
        )
        assert job is not None
        return job
    active = await service.find_active_job(session, datasource_id=datasource.id)
    return active or await service.start_crawl(session, datasource=datasource, trigger="manual")


async def crawl_with_progress(
    settings: Settings, *, org_id: uuid.UUID, url: str, page_limit: int
) -> dict[str, Any]:
    engine = database.create_engine(settings)
    sessionmaker = database.create_sessionmaker(engine)
    queue = create_queue(settings, TASKS)
    context = TaskContext(
        settings=settings,
        sessionmaker=sessionmaker,
        queue=queue,
        resources={"embedder": LazyEmbedder(settings)},
    )
    try:
        await service.check_crawlable(
            DatasourceCreate(url=url),
            allow_private=settings.CRAWLER_ALLOW_PRIVATE_NETWORKS,
        )
        async with database.transaction(sessionmaker) as session:
            job = await _job_for(session, org_id=org_id, url=url, page_limit=page_limit)
            job_id = job.id
        await queue.start(context)
        runner = None
        if settings.JOBS_BACKEND == "redis":
            await queue.enqueue("run_crawl", job_id=str(job_id))  # a worker runs it
        else:
            runner = asyncio.create_task(run_crawl(context, job_id=str(job_id)))
        read = await _watch(sessionmaker, job_id, runner)
        return read.model_dump(mode="json")
    finally:
        await queue.close()
        await close_resources(context)
        await engine.dispose()


async def _watch(
    sessionmaker: Any, job_id: uuid.UUID, runner: asyncio.Task[None] | None
) -> CrawlJobRead:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "new {task.fields[new]} · updated {task.fields[updated]} · "
            "unchanged {task.fields[unchanged]} · removed {task.fields[removed]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task("crawling", total=None, new=0, updated=0, unchanged=0, removed=0)
        while True:
            async with sessionmaker() as session:
                job = await session.get(CrawlJob, job_id)
                assert job is not None
                read = CrawlJobRead.model_validate(job)
            progress.update(
                bar,
                description=read.status,
                completed=read.completed_pages,
                total=read.total_pages,
                new=read.new_pages,
                updated=read.updated_pages,
                unchanged=read.unchanged_pages,
                removed=read.removed_pages,
            )
            if read.status in ("completed", "failed", "cancelled"):
                break
            if runner is not None and runner.done():
                with contextlib.suppress(asyncio.CancelledError):
                    runner.result()
            await asyncio.sleep(0.5)
    if runner is not None:
        await runner
    return read
