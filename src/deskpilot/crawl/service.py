"""Datasources, crawl jobs and pages of one org: the rules around the crawler's work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.crawl.schemas import (
    MAX_PAGE_LIMIT,
    ActiveCrawlJob,
    DatasourceCreate,
    DatasourceDetail,
    DatasourceRead,
    DatasourceUpdate,
    PageStats,
)
from deskpilot.crawler import BlockedAddressError, InvalidURLError, check_start_url, normalize_url
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import Chunk, CrawlJob, Datasource, KnowledgeChange, Page, utcnow
from deskpilot.pagination import apply_cursor, contains_pattern, page_of
from deskpilot.tenancy import org_scoped

MAX_DATASOURCES_PER_ORG = 20
ACTIVE_JOB_STATUSES = ("pending", "scraping")
FINISHED_JOB_STATUSES = ("completed", "failed", "cancelled")


def normalise_start_url(url: str) -> str:
    normalised = normalize_url(url)
    if normalised is None or urlsplit(normalised).scheme not in ("http", "https"):
        raise InvalidInput("url must be an http or https URL")
    return normalised


async def check_crawlable(data: DatasourceCreate, *, allow_private: bool) -> None:
    """The start URL must resolve, and (unless the install allows private networks) only to
    public addresses: the crawler is an SSRF surface."""
    try:
        await check_start_url(str(data.url), allow_private_networks=allow_private)
    except BlockedAddressError as exc:
        raise InvalidInput(f"url is not allowed: {exc}") from exc
    except InvalidURLError as exc:
        raise InvalidInput(f"url is not valid: {exc}") from exc


def crawl_rules(datasource: Datasource) -> dict[str, object]:
    return {
        "url": datasource.url,
        "page_limit": datasource.page_limit,
        "include_paths": list(datasource.include_paths or []),
        "exclude_paths": list(datasource.exclude_paths or []),
    }


async def log_changes(
    session: AsyncSession, *, org_id: uuid.UUID, page_ids: Sequence[uuid.UUID]
) -> None:
    """Tell every process's search index that these pages' chunks changed."""
    if page_ids:
        await session.execute(
            sa.insert(KnowledgeChange),
            [
                {"org_id": org_id, "page_id": page_id, "created_at": utcnow()}
                for page_id in page_ids
            ],
        )


# --- datasources ------------------------------------------------------------------------


async def create_datasource(
    session: AsyncSession, *, org_id: uuid.UUID, data: DatasourceCreate
) -> tuple[Datasource, CrawlJob | None]:
    url = normalise_start_url(str(data.url))
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(Datasource).where(Datasource.org_id == org_id)
    )
    if (count or 0) >= MAX_DATASOURCES_PER_ORG:
        raise Conflict(f"An org can have at most {MAX_DATASOURCES_PER_ORG} datasources")
    existing = (
        await session.scalars(org_scoped(Datasource, org_id).where(Datasource.url == url))
    ).first()
    if existing is not None:
        raise Conflict(f"A datasource for {url} already exists")
    datasource = Datasource(
        org_id=org_id,
        url=url,
        display_name=data.display_name or (urlsplit(url).hostname or url),
        status="active",
        page_limit=data.page_limit if data.page_limit is not None else MAX_PAGE_LIMIT,
        include_paths=list(data.include_paths),
        exclude_paths=list(data.exclude_paths),
        crawl_interval_hours=data.crawl_interval_hours,
    )
    session.add(datasource)
    await session.flush()
    job = None
    if data.auto_start_crawl:
        job = await start_crawl(session, datasource=datasource, trigger="create")
    else:
        datasource.next_crawl_at = _next_crawl_at(datasource, utcnow())
    return datasource, job


async def get_datasource(
    session: AsyncSession, *, org_id: uuid.UUID, datasource_id: uuid.UUID
) -> Datasource:
    datasource = (
        await session.scalars(org_scoped(Datasource, org_id).where(Datasource.id == datasource_id))
    ).first()
    if datasource is None:
        raise NotFound("Datasource not found")
    return datasource


async def list_datasources(
    session: AsyncSession, *, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Datasource], str | None]:
    stmt = apply_cursor(
        org_scoped(Datasource, org_id),
        created_col=Datasource.created_at,
        id_col=Datasource.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda ds: (ds.created_at, ds.id))


async def find_active_job(session: AsyncSession, *, datasource_id: uuid.UUID) -> CrawlJob | None:
    return (
        await session.scalars(
            sa.select(CrawlJob)
            .where(
                CrawlJob.datasource_id == datasource_id,
                CrawlJob.status.in_(ACTIVE_JOB_STATUSES),
            )
            .order_by(CrawlJob.created_at.desc())
            .limit(1)
        )
    ).first()


async def datasource_detail(session: AsyncSession, *, datasource: Datasource) -> DatasourceDetail:
    return (await datasource_details(session, datasources=[datasource]))[0]


async def datasource_details(
    session: AsyncSession, *, datasources: Sequence[Datasource]
) -> list[DatasourceDetail]:
    """`datasource_detail` for many datasources in two queries, whatever their number."""
    ids = [datasource.id for datasource in datasources]
    counts: dict[uuid.UUID, dict[str, int]] = {ds_id: {} for ds_id in ids}
    jobs: dict[uuid.UUID, CrawlJob] = {}
    if ids:
        rows = await session.execute(
            sa.select(Page.datasource_id, Page.status, sa.func.count())
            .where(Page.datasource_id.in_(ids))
            .group_by(Page.datasource_id, Page.status)
        )
        for ds_id, status, count in rows.tuples():
            counts[ds_id][status] = count
        active = await session.scalars(
            sa.select(CrawlJob)
            .where(CrawlJob.datasource_id.in_(ids), CrawlJob.status.in_(ACTIVE_JOB_STATUSES))
            .order_by(CrawlJob.created_at)
        )
        for running in active:
            jobs[running.datasource_id] = running  # the newest wins, as in find_active_job
    details = []
    for datasource in datasources:
        found = counts[datasource.id]
        job = jobs.get(datasource.id)
        details.append(
            DatasourceDetail(
                **DatasourceRead.model_validate(datasource).model_dump(),
                page_stats=PageStats(
                    total=sum(found.values()),
                    synced=found.get("synced", 0),
                    pending=found.get("pending", 0),
                    error=found.get("error", 0),
                    excluded=found.get("excluded", 0),
                ),
                active_crawl_job=ActiveCrawlJob.model_validate(job) if job else None,
            )
        )
    return details


def _next_crawl_at(datasource: Datasource, after: datetime) -> datetime | None:
    if datasource.crawl_interval_hours is None or datasource.status != "active":
        return None
    return after + timedelta(hours=datasource.crawl_interval_hours)


async def update_datasource(
    session: AsyncSession, *, datasource: Datasource, changes: DatasourceUpdate
) -> Datasource:
    fields = changes.model_fields_set
    for required in ("display_name", "page_limit", "include_paths", "exclude_paths", "status"):
        if required in fields and getattr(changes, required) is None:
            raise InvalidInput(f"{required} cannot be null")
    for name in ("display_name", "page_limit", "include_paths", "exclude_paths", "status"):
        if name in fields:
            setattr(datasource, name, getattr(changes, name))
    if "crawl_interval_hours" in fields:
        datasource.crawl_interval_hours = changes.crawl_interval_hours
    if {"crawl_interval_hours", "status"} & fields:
        base = datasource.last_crawl_completed_at or utcnow()
        datasource.next_crawl_at = _next_crawl_at(datasource, base)
    datasource.updated_at = utcnow()
    await session.flush()
    return datasource


async def delete_datasource(session: AsyncSession, *, datasource: Datasource) -> None:
    """Cancels any job; its pages and chunks leave the knowledge base at once."""
    now = utcnow()
    await session.execute(
        sa.update(CrawlJob)
        .where(CrawlJob.datasource_id == datasource.id, CrawlJob.status.in_(ACTIVE_JOB_STATUSES))
        .values(status="cancelled", cancel_requested=True, completed_at=now, updated_at=now)
    )
    page_ids = list(
        await session.scalars(sa.select(Page.id).where(Page.datasource_id == datasource.id))
    )
    await session.execute(sa.delete(Chunk).where(Chunk.datasource_id == datasource.id))
    await session.execute(sa.delete(Page).where(Page.datasource_id == datasource.id))
    await session.execute(sa.delete(CrawlJob).where(CrawlJob.datasource_id == datasource.id))
    await log_changes(session, org_id=datasource.org_id, page_ids=page_ids)
    await session.delete(datasource)
    await session.flush()


# --- crawl jobs ---------------------------------------------------------------------------


async def start_crawl(session: AsyncSession, *, datasource: Datasource, trigger: str) -> CrawlJob:
    """A new pending job; the caller enqueues it once the transaction has committed."""
    if await find_active_job(session, datasource_id=datasource.id) is not None:
        raise Conflict("A crawl is already running for this datasource")
    job = CrawlJob(
        org_id=datasource.org_id,
        datasource_id=datasource.id,
        status="pending",
        trigger=trigger,
        rules=crawl_rules(datasource),
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(
    session: AsyncSession, *, org_id: uuid.UUID, datasource_id: uuid.UUID, job_id: uuid.UUID
) -> CrawlJob:
    job = (
        await session.scalars(
            org_scoped(CrawlJob, org_id).where(
                CrawlJob.id == job_id, CrawlJob.datasource_id == datasource_id
            )
        )
    ).first()
    if job is None:
        raise NotFound("Crawl job not found")
    return job


async def list_jobs(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    datasource_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[CrawlJob], str | None]:
    stmt = apply_cursor(
        org_scoped(CrawlJob, org_id).where(CrawlJob.datasource_id == datasource_id),
        created_col=CrawlJob.created_at,
        id_col=CrawlJob.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda job: (job.created_at, job.id))


async def cancel_crawl(session: AsyncSession, *, job: CrawlJob) -> CrawlJob:
    """Marks the job cancelled at once; its runner sees it within a second and stops."""
    if job.status in FINISHED_JOB_STATUSES:
        raise Conflict(f"This crawl job has already finished ({job.status})")
    now = utcnow()
    job.status = "cancelled"
    job.cancel_requested = True
    job.completed_at = now
    job.updated_at = now
    await session.flush()
    return job


# --- pages --------------------------------------------------------------------------------


async def list_pages(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    datasource_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    q: str | None = None,
) -> tuple[list[Page], str | None]:
    stmt = org_scoped(Page, org_id).where(Page.datasource_id == datasource_id)
    if status is not None:
        stmt = stmt.where(Page.status == status)
    if q:
        pattern = contains_pattern(q)
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Page.url).like(pattern, escape="\\"),
                sa.func.lower(Page.title).like(pattern, escape="\\"),
            )
        )
    stmt = apply_cursor(
        stmt, created_col=Page.created_at, id_col=Page.id, cursor=cursor, limit=limit
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda page: (page.created_at, page.id))


async def get_page(
    session: AsyncSession, *, org_id: uuid.UUID, datasource_id: uuid.UUID, page_id: uuid.UUID
) -> Page:
    page = (
        await session.scalars(
            org_scoped(Page, org_id).where(Page.id == page_id, Page.datasource_id == datasource_id)
        )
    ).first()
    if page is None:
        raise NotFound("Page not found")
    return page


async def drop_page_chunks(session: AsyncSession, *, page: Page) -> None:
    await session.execute(sa.delete(Chunk).where(Chunk.page_id == page.id))
    await log_changes(session, org_id=page.org_id, page_ids=[page.id])


async def exclude_page(session: AsyncSession, *, page: Page) -> Page:
    """De-indexed at once; every later crawl skips it until included again."""
    page.status = "excluded"
    page.updated_at = utcnow()
    await drop_page_chunks(session, page=page)
    await session.flush()
    return page


async def include_page(session: AsyncSession, *, page: Page) -> Page:
    if page.status == "excluded":
        page.status = "pending"
        page.content_hash = None  # re-index on the next fetch even if nothing changed
        page.etag = None
        page.last_modified = None
        page.updated_at = utcnow()
        await session.flush()
    return page


async def resync_page(session: AsyncSession, *, page: Page) -> Page:
    """Queued for an immediate re-fetch; the caller enqueues the page sync after commit."""
    if page.status == "excluded":
        raise Conflict("This page is excluded: include it before resyncing")
    page.status = "pending"
    page.etag = None
    page.last_modified = None
    page.updated_at = utcnow()
    await session.flush()
    return page


async def delete_page(session: AsyncSession, *, page: Page) -> None:
    await drop_page_chunks(session, page=page)
    await session.delete(page)
    await session.flush()
