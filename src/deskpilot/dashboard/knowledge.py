"""Knowledge (admins only): the org's website datasources with their page stats; adding,
changing, pausing and deleting one; starting and cancelling crawls with the running job's
counters updating on the page; and every page's sync status with exclude, include and
resync. The same crawl services (and the same job queue) as the Org API's /crawl routes.

The progress panel polls itself (htmx, once a second) only while a job is pending or
running; the answer that finds the job ended carries no poll, so polling stops, and tells
the page (`dp:crawl-finished`) to refresh its page list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from deskpilot import db as database
from deskpilot.crawl import service as crawl
from deskpilot.crawl.schemas import DatasourceCreate, DatasourceUpdate
from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, Staff, is_htmx, render
from deskpilot.dashboard.forms import (
    MAX_TEXTAREA_CHARS,
    given,
    kept_query,
    lines,
    parse_body,
    path_id,
)
from deskpilot.dashboard.views import safe_url
from deskpilot.deps import AppState, Db, State
from deskpilot.errors import InvalidInput
from deskpilot.models import CrawlJob, Datasource, Page

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_STATUSES = ("synced", "pending", "error", "excluded")
PAGES_PER_SCREEN = 25
POLL_INTERVAL = "1s"
FINISHED_EVENT = "dp:crawl-finished"
_LIST_KEYS = ("status", "q", "cursor")
ShortText = Annotated[str, Form(max_length=2048)]
AreaText = Annotated[str, Form(max_length=MAX_TEXTAREA_CHARS)]
NumberText = Annotated[str, Form(max_length=20)]


def _enqueue(db: Db, state: AppState, task: str, **kwargs: str) -> None:
    """After the commit, so the runner sees the rows it is given."""

    async def enqueue() -> None:
        await state.queue.enqueue(task, **kwargs)

    database.after_commit(db, enqueue)


async def _datasource(db: Db, staff: Staff, datasource_id: str) -> Datasource:
    return await crawl.get_datasource(
        db, org_id=staff.org.id, datasource_id=path_id(datasource_id, "Datasource")
    )


@dataclass(frozen=True, slots=True)
class PageFilters:
    status: str | None
    q: str | None
    cursor: str | None


def page_filters(
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageFilters:
    """The page list's filters from the query string (a dependency of both routes that list
    pages). Unknown values from the address bar are dropped rather than refused."""
    return PageFilters(
        status=status if status in PAGE_STATUSES else None,
        q=q.strip() if q and q.strip() else None,
        cursor=cursor,
    )


Filters = Annotated[PageFilters, Depends(page_filters)]


def _list_query(status: str | None, q: str | None, cursor: str | None = None) -> str:
    values = {"status": status, "q": q, "cursor": cursor}
    return urlencode({key: value for key, value in values.items() if value})


def _datasource_url(datasource: Datasource | uuid.UUID, query: str = "") -> str:
    ds_id = datasource if isinstance(datasource, uuid.UUID) else datasource.id
    return f"/knowledge/{ds_id}" + (f"?{query}" if query else "")


# --- the list -----------------------------------------------------------------------------


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge(
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    rows, next_cursor = await crawl.list_datasources(
        db, org_id=staff.org.id, cursor=cursor, limit=PAGES_PER_SCREEN
    )
    context = {
        "title": "Knowledge",
        "nav": "knowledge",
        "datasources": await crawl.datasource_details(db, datasources=rows),
        "cursor": cursor,
        "next_cursor": next_cursor,
        "max_datasources": crawl.MAX_DATASOURCES_PER_ORG,
        "safe_url": safe_url,
    }
    return render(request, state, "knowledge.html", context, staff=staff)


@router.post("/knowledge")
async def add_datasource(
    staff: ActingAdmin,
    db: Db,
    state: State,
    url: ShortText = "",
    display_name: ShortText = "",
    page_limit: NumberText = "",
    include_paths: AreaText = "",
    exclude_paths: AreaText = "",
    crawl_interval_hours: NumberText = "",
    auto_start_crawl: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """As `POST /crawl`: an empty page limit is the default (100), an empty interval means
    no scheduled re-crawl."""
    values: dict[str, Any] = {
        **given({"url": url, "display_name": display_name, "page_limit": page_limit}),
        "include_paths": lines(include_paths),
        "exclude_paths": lines(exclude_paths),
        "crawl_interval_hours": crawl_interval_hours.strip() or None,
        "auto_start_crawl": bool(auto_start_crawl),
    }
    if "url" not in values:
        raise InvalidInput("url is required")
    body = parse_body(DatasourceCreate, values)
    await crawl.check_crawlable(body, allow_private=state.settings.CRAWLER_ALLOW_PRIVATE_NETWORKS)
    datasource, job = await crawl.create_datasource(db, org_id=staff.org.id, data=body)
    if job is not None:
        _enqueue(db, state, "run_crawl", job_id=str(job.id))
    return RedirectResponse(_datasource_url(datasource), status_code=303)


# --- one datasource -----------------------------------------------------------------------


async def _progress_context(db: Db, datasource: Datasource) -> dict[str, Any]:
    detail = await crawl.datasource_detail(db, datasource=datasource)
    jobs, _ = await crawl.list_jobs(
        db, org_id=datasource.org_id, datasource_id=datasource.id, cursor=None, limit=1
    )
    job: CrawlJob | None = jobs[0] if jobs else None
    return {
        "datasource": datasource,
        "detail": detail,
        "job": job,
        "active": job is not None and job.status in crawl.ACTIVE_JOB_STATUSES,
        "poll_interval": POLL_INTERVAL,
    }


async def _pages_context(
    db: Db, datasource: Datasource, status: str | None, q: str | None, cursor: str | None
) -> dict[str, Any]:
    pages, next_cursor = await crawl.list_pages(
        db,
        org_id=datasource.org_id,
        datasource_id=datasource.id,
        cursor=cursor,
        limit=PAGES_PER_SCREEN,
        status=status,
        q=q,
    )
    return {
        "datasource": datasource,
        "pages": pages,
        "status": status,
        "q": q,
        "cursor": cursor,
        "next_cursor": next_cursor,
        "statuses": PAGE_STATUSES,
        "query": _list_query(status, q),
        "list_query": _list_query(status, q, cursor),
        "safe_url": safe_url,
    }


@router.get("/knowledge/{datasource_id}", response_class=HTMLResponse)
async def datasource_page(
    datasource_id: str,
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    filters: Filters,
) -> HTMLResponse:
    datasource = await _datasource(db, staff, datasource_id)
    context = {
        "title": datasource.display_name,
        "nav": "knowledge",
        **await _progress_context(db, datasource),
        **await _pages_context(db, datasource, filters.status, filters.q, filters.cursor),
        "safe_url": safe_url,
    }
    return render(request, state, "knowledge_datasource.html", context, staff=staff)


@router.get("/knowledge/{datasource_id}/progress", response_class=HTMLResponse)
async def progress(
    datasource_id: str, request: Request, staff: AdminStaff, db: Db, state: State
) -> HTMLResponse:
    """The progress panel alone (the poll). An htmx poll that finds no job running any more
    tells the page the crawl finished."""
    datasource = await _datasource(db, staff, datasource_id)
    context = await _progress_context(db, datasource)
    headers = {"HX-Trigger": FINISHED_EVENT} if is_htmx(request) and not context["active"] else {}
    return render(
        request, state, "_partials/knowledge_progress.html", context, staff=staff, headers=headers
    )


@router.get("/knowledge/{datasource_id}/pages", response_class=HTMLResponse)
async def pages(
    datasource_id: str,
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    filters: Filters,
) -> HTMLResponse:
    """The page list alone, for the refresh when a crawl ends."""
    datasource = await _datasource(db, staff, datasource_id)
    context = await _pages_context(db, datasource, filters.status, filters.q, filters.cursor)
    return render(request, state, "_partials/knowledge_pages.html", context, staff=staff)


@router.post("/knowledge/{datasource_id}/settings")
async def change_settings(
    datasource_id: str,
    staff: ActingAdmin,
    db: Db,
    display_name: ShortText = "",
    page_limit: NumberText = "",
    include_paths: AreaText = "",
    exclude_paths: AreaText = "",
    crawl_interval_hours: NumberText = "",
) -> Response:
    """As `PATCH /crawl/{id}` with every rule: they apply from the next crawl."""
    datasource = await _datasource(db, staff, datasource_id)
    if not page_limit.strip():
        raise InvalidInput("page_limit must not be empty")
    changes = parse_body(
        DatasourceUpdate,
        {
            "display_name": display_name,
            "page_limit": page_limit.strip(),
            "include_paths": lines(include_paths),
            "exclude_paths": lines(exclude_paths),
            "crawl_interval_hours": crawl_interval_hours.strip() or None,
        },
    )
    await crawl.update_datasource(db, datasource=datasource, changes=changes)
    return RedirectResponse(_datasource_url(datasource), status_code=303)


@router.post("/knowledge/{datasource_id}/status")
async def change_status(
    datasource_id: str,
    staff: ActingAdmin,
    db: Db,
    status: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Pause (no scheduled re-crawls; a manual start still works) or resume."""
    datasource = await _datasource(db, staff, datasource_id)
    changes = parse_body(DatasourceUpdate, {"status": status})
    await crawl.update_datasource(db, datasource=datasource, changes=changes)
    return RedirectResponse(_datasource_url(datasource), status_code=303)


@router.post("/knowledge/{datasource_id}/delete")
async def delete_datasource(datasource_id: str, staff: ActingAdmin, db: Db) -> Response:
    """Cancels any crawl; its pages leave the knowledge base at once."""
    datasource = await _datasource(db, staff, datasource_id)
    await crawl.delete_datasource(db, datasource=datasource)
    return RedirectResponse("/knowledge", status_code=303)


@router.post("/knowledge/{datasource_id}/crawls")
async def start_crawl(datasource_id: str, staff: ActingAdmin, db: Db, state: State) -> Response:
    datasource = await _datasource(db, staff, datasource_id)
    job = await crawl.start_crawl(db, datasource=datasource, trigger="manual")
    _enqueue(db, state, "run_crawl", job_id=str(job.id))
    return RedirectResponse(_datasource_url(datasource), status_code=303)


@router.post("/knowledge/{datasource_id}/crawls/{job_id}/cancel")
async def cancel_crawl(datasource_id: str, job_id: str, staff: ActingAdmin, db: Db) -> Response:
    datasource = await _datasource(db, staff, datasource_id)
    job = await crawl.get_job(
        db,
        org_id=staff.org.id,
        datasource_id=datasource.id,
        job_id=path_id(job_id, "Crawl job"),
    )
    await crawl.cancel_crawl(db, job=job)
    return RedirectResponse(_datasource_url(datasource), status_code=303)


# --- pages --------------------------------------------------------------------------------


@router.post("/knowledge/{datasource_id}/pages/{page_id}/{action}")
async def page_action(
    datasource_id: str,
    page_id: str,
    action: str,
    request: Request,
    staff: ActingAdmin,
    db: Db,
    state: State,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Exclude (de-indexed now, skipped by later crawls), include (undoes it) or resync
    (re-fetched now). htmx gets the page's row back; a plain form returns to the list
    where it was (`back`: the list's filters and position)."""
    datasource = await _datasource(db, staff, datasource_id)
    page: Page = await crawl.get_page(
        db, org_id=staff.org.id, datasource_id=datasource.id, page_id=path_id(page_id, "Page")
    )
    if action == "exclude":
        await crawl.exclude_page(db, page=page)
    elif action == "include":
        await crawl.include_page(db, page=page)
    elif action == "resync":
        await crawl.resync_page(db, page=page)
        _enqueue(db, state, "sync_page", page_id=str(page.id))
    else:
        raise InvalidInput("action must be exclude, include or resync")
    query = kept_query(back, _LIST_KEYS)
    if is_htmx(request):
        context = {"datasource": datasource, "page": page, "list_query": query}
        return render(
            request,
            state,
            "_partials/knowledge_page_row.html",
            {**context, "safe_url": safe_url},
            staff=staff,
        )
    return RedirectResponse(_datasource_url(datasource, query), status_code=303)
