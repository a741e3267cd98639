"""Org API: website datasources, their crawl jobs and pages, and knowledge search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot import db as database
from deskpilot.crawl import service
from deskpilot.crawl.schemas import (
    CrawlJobRead,
    DatasourceCreate,
    DatasourceDetail,
    DatasourceRead,
    DatasourceUpdate,
    KnowledgeResults,
    KnowledgeSearch,
    PageDetail,
    PageRead,
    PageStatus,
)
from deskpilot.deps import CurrentOrg, Db, State
from deskpilot.models import CrawlJob, Page
from deskpilot.pagination import CursorPage
from deskpilot.schemas import error_responses

router = APIRouter(
    tags=["Website crawling"], responses=error_responses(400, 401, 404, 413, 429, 500)
)
Limit = Annotated[int, Query(ge=1, le=100)]


def _enqueue_crawl(db: Db, state: State, job: CrawlJob) -> None:
    job_id = str(job.id)

    async def enqueue() -> None:
        await state.queue.enqueue("run_crawl", job_id=job_id)

    database.after_commit(db, enqueue)


@router.post(
    "/crawl",
    status_code=status.HTTP_201_CREATED,
    summary="Add a website; its first crawl starts unless auto_start_crawl is false",
    responses=error_responses(409),
)
async def create_datasource(
    body: DatasourceCreate, org: CurrentOrg, db: Db, state: State
) -> DatasourceRead:
    await service.check_crawlable(body, allow_private=state.settings.CRAWLER_ALLOW_PRIVATE_NETWORKS)
    datasource, job = await service.create_datasource(db, org_id=org.id, data=body)
    if job is not None:
        _enqueue_crawl(db, state, job)
    return DatasourceRead.model_validate(datasource)


@router.get("/crawl", summary="List datasources, newest first")
async def list_datasources(
    org: CurrentOrg, db: Db, cursor: str | None = None, limit: Limit = 25
) -> CursorPage[DatasourceRead]:
    rows, next_cursor = await service.list_datasources(
        db, org_id=org.id, cursor=cursor, limit=limit
    )
    return CursorPage(items=[DatasourceRead.model_validate(r) for r in rows], next=next_cursor)


@router.get("/crawl/{datasource_id}", summary="A datasource with page stats and its active job")
async def read_datasource(datasource_id: uuid.UUID, org: CurrentOrg, db: Db) -> DatasourceDetail:
    datasource = await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    return await service.datasource_detail(db, datasource=datasource)


@router.patch("/crawl/{datasource_id}", summary="Change rules, schedule, or pause/resume")
async def update_datasource(
    datasource_id: uuid.UUID, body: DatasourceUpdate, org: CurrentOrg, db: Db
) -> DatasourceRead:
    datasource = await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    await service.update_datasource(db, datasource=datasource, changes=body)
    return DatasourceRead.model_validate(datasource)


@router.delete(
    "/crawl/{datasource_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a datasource: cancels its crawl, removes its pages and knowledge",
)
async def delete_datasource(datasource_id: uuid.UUID, org: CurrentOrg, db: Db) -> Response:
    datasource = await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    await service.delete_datasource(db, datasource=datasource)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/crawl/{datasource_id}/crawls",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a crawl now",
    responses=error_responses(409),
)
async def start_crawl(
    datasource_id: uuid.UUID, org: CurrentOrg, db: Db, state: State
) -> CrawlJobRead:
    datasource = await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    job = await service.start_crawl(db, datasource=datasource, trigger="manual")
    _enqueue_crawl(db, state, job)
    return CrawlJobRead.model_validate(job)


@router.get("/crawl/{datasource_id}/crawls", summary="List crawl jobs, newest first")
async def list_jobs(
    datasource_id: uuid.UUID, org: CurrentOrg, db: Db, cursor: str | None = None, limit: Limit = 25
) -> CursorPage[CrawlJobRead]:
    await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    rows, next_cursor = await service.list_jobs(
        db, org_id=org.id, datasource_id=datasource_id, cursor=cursor, limit=limit
    )
    return CursorPage(items=[CrawlJobRead.model_validate(r) for r in rows], next=next_cursor)


@router.get("/crawl/{datasource_id}/crawls/{job_id}", summary="A crawl job and its counters")
async def read_job(
    datasource_id: uuid.UUID, job_id: uuid.UUID, org: CurrentOrg, db: Db
) -> CrawlJobRead:
    job = await service.get_job(db, org_id=org.id, datasource_id=datasource_id, job_id=job_id)
    return CrawlJobRead.model_validate(job)


@router.post(
    "/crawl/{datasource_id}/crawls/{job_id}/cancel",
    summary="Cancel a crawl: fetching stops within seconds",
    responses=error_responses(409),
)
async def cancel_job(
    datasource_id: uuid.UUID, job_id: uuid.UUID, org: CurrentOrg, db: Db
) -> CrawlJobRead:
    job = await service.get_job(db, org_id=org.id, datasource_id=datasource_id, job_id=job_id)
    await service.cancel_crawl(db, job=job)
    return CrawlJobRead.model_validate(job)


@router.get("/crawl/{datasource_id}/pages", summary="List pages with their sync status")
async def list_pages(
    datasource_id: uuid.UUID,
    org: CurrentOrg,
    db: Db,
    cursor: str | None = None,
    limit: Limit = 25,
    status: PageStatus | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> CursorPage[PageRead]:
    await service.get_datasource(db, org_id=org.id, datasource_id=datasource_id)
    rows, next_cursor = await service.list_pages(
        db,
        org_id=org.id,
        datasource_id=datasource_id,
        cursor=cursor,
        limit=limit,
        status=status,
        q=q,
    )
    return CursorPage(items=[PageRead.model_validate(r) for r in rows], next=next_cursor)


async def _page(db: Db, org_id: uuid.UUID, datasource_id: uuid.UUID, page_id: uuid.UUID) -> Page:
    return await service.get_page(db, org_id=org_id, datasource_id=datasource_id, page_id=page_id)


@router.get("/crawl/{datasource_id}/pages/{page_id}", summary="A page with its extracted text")
async def read_page(
    datasource_id: uuid.UUID, page_id: uuid.UUID, org: CurrentOrg, db: Db
) -> PageDetail:
    return PageDetail.model_validate(await _page(db, org.id, datasource_id, page_id))


@router.post(
    "/crawl/{datasource_id}/pages/{page_id}/exclude",
    summary="Exclude a page: de-indexed now, skipped by later crawls",
)
async def exclude_page(
    datasource_id: uuid.UUID, page_id: uuid.UUID, org: CurrentOrg, db: Db
) -> PageRead:
    page = await service.exclude_page(db, page=await _page(db, org.id, datasource_id, page_id))
    return PageRead.model_validate(page)


@router.post("/crawl/{datasource_id}/pages/{page_id}/include", summary="Undo an exclusion")
async def include_page(
    datasource_id: uuid.UUID, page_id: uuid.UUID, org: CurrentOrg, db: Db
) -> PageRead:
    page = await service.include_page(db, page=await _page(db, org.id, datasource_id, page_id))
    return PageRead.model_validate(page)


@router.post(
    "/crawl/{datasource_id}/pages/{page_id}/resync",
    summary="Re-fetch one page now",
    responses=error_responses(409),
)
async def resync_page(
    datasource_id: uuid.UUID, page_id: uuid.UUID, org: CurrentOrg, db: Db, state: State
) -> PageRead:
    page = await service.resync_page(db, page=await _page(db, org.id, datasource_id, page_id))
    target = str(page.id)

    async def enqueue() -> None:
        await state.queue.enqueue("sync_page", page_id=target)

    database.after_commit(db, enqueue)
    return PageRead.model_validate(page)


@router.delete(
    "/crawl/{datasource_id}/pages/{page_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a page (it may come back on the next crawl; exclude blocks it)",
)
async def delete_page(
    datasource_id: uuid.UUID, page_id: uuid.UUID, org: CurrentOrg, db: Db
) -> Response:
    await service.delete_page(db, page=await _page(db, org.id, datasource_id, page_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/knowledge/search",
    summary="Search the org's knowledge with the same hybrid retrieval the AI uses",
)
async def search_knowledge(
    body: KnowledgeSearch, org: CurrentOrg, db: Db, state: State
) -> KnowledgeResults:
    hits = await state.knowledge.search(
        db, org_id=org.id, query=body.query, limit=body.limit, datasource_ids=body.datasource_ids
    )
    return KnowledgeResults(items=hits)
