"""Knowledge pages: admins add, change, pause, crawl and delete websites and manage their
pages from the dashboard, and the Org API reads back what they did; real crawls of real
local sites; agents and other orgs are kept out."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import CrawlJob, Page, utcnow
from tests.crawl.conftest import wait_for_job
from tests.site import docs_site, serve

pytestmark = pytest.mark.usefixtures("no_ai")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@pytest.fixture
def site():
    with serve(docs_site(3)) as running:
        yield running


def add_form(url: str, **fields: str) -> dict[str, str]:
    form = {
        "url": url,
        "display_name": "",
        "page_limit": "100",
        "include_paths": "",
        "exclude_paths": "",
        "crawl_interval_hours": "168",
        "auto_start_crawl": "1",
    }
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


async def api_datasources(client, org) -> list[dict[str, Any]]:
    response = await client.get("/crawl", headers=org.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def quiet_datasource(client, org, url: str, **body: Any) -> dict[str, Any]:
    """A datasource made through the Org API, with no crawl."""
    response = await client.post(
        "/crawl", json={"url": url, "auto_start_crawl": False, **body}, headers=org.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_pages(sessionmaker, org, datasource_id: str, rows: list[dict[str, Any]]) -> list[str]:
    """Pages as a crawl would have left them, oldest first."""
    ids = []
    start = utcnow() - timedelta(hours=1)
    async with transaction(sessionmaker) as db:
        for index, row in enumerate(rows):
            page = Page(
                org_id=uuid.UUID(org.id),
                datasource_id=uuid.UUID(datasource_id),
                created_at=start + timedelta(seconds=index),
                updated_at=start + timedelta(seconds=index),
                **row,
            )
            db.add(page)
            await db.flush()
            ids.append(str(page.id))
    return ids


def page_rows(html: str) -> list[tuple[str, str]]:
    """(page id, status) of every row of the page list, in order."""
    return re.findall(
        r'data-testid="page" data-page-id="([0-9a-f-]{36})" data-status="(\w+)"', html
    )


class TestAccess:
    async def test_an_admin_sees_the_knowledge_pages_and_the_nav_link(self, org, sign_in, site):
        admin = await sign_in(org)
        page = await admin.get("/knowledge")
        assert page.status_code == 200
        assert "Add a website" in page.text and 'href="/knowledge"' in page.text
        assert 'data-testid="no-datasources"' in page.text

    async def test_agents_are_refused_every_knowledge_page_and_form(
        self, client, org, sign_in, site
    ):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        for path in ("/knowledge", f"/knowledge/{ds['id']}", f"/knowledge/{ds['id']}/progress"):
            response = await agent.get(path)
            assert response.status_code == 403, path
            assert "Only an admin" in response.text
        refused = await agent.post("/knowledge", add_form(f"{site.base}/other/"))
        assert refused.status_code == 403
        deleted = await agent.post(f"/knowledge/{ds['id']}/delete")
        assert deleted.status_code == 403
        assert [d["id"] for d in await api_datasources(client, org)] == [ds["id"]]
        assert 'href="/knowledge"' not in (await agent.get("/inbox")).text

    async def test_signed_out_visitors_are_asked_to_sign_in(self, client):
        response = await client.get("/knowledge")
        assert response.status_code == 401 and "sign-in link" in response.text

    async def test_a_form_without_the_csrf_token_is_refused(self, client, org, sign_in, site):
        admin = await sign_in(org)
        response = await admin.post("/knowledge", add_form(f"{site.base}/docs/"), csrf="")
        assert response.status_code == 403
        assert await api_datasources(client, org) == []


class TestAddWebsite:
    async def test_the_form_creates_the_datasource_and_its_crawl_completes(
        self, client, org, sign_in, site
    ):
        admin = await sign_in(org)
        response = await admin.post(
            "/knowledge",
            add_form(
                f"{site.base}/docs/",
                display_name="Help centre",
                page_limit="50",
                include_paths="/docs\n\n  /help/*  \n",
                exclude_paths="/docs/topic-2*",
                crawl_interval_hours="48",
            ),
        )
        assert response.status_code == 303
        [ds] = await api_datasources(client, org)
        assert response.headers["location"] == f"/knowledge/{ds['id']}"
        assert ds["display_name"] == "Help centre" and ds["page_limit"] == 50
        assert ds["include_paths"] == ["/docs", "/help/*"]
        assert ds["exclude_paths"] == ["/docs/topic-2*"]
        assert ds["crawl_interval_hours"] == 48
        job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "completed" and job["new_pages"] == 3, job
        page = await admin.get(f"/knowledge/{ds['id']}")
        assert page.status_code == 200
        assert 'data-testid="job-status">completed<' in page.text
        assert 'data-testid="job-new">3<' in page.text
        assert sorted(status for _, status in page_rows(page.text)) == ["synced"] * 3
        assert "topic-2.html" not in page.text
        listing = await admin.get("/knowledge")
        assert 'data-testid="datasource-name">Help centre<' in listing.text
        assert "<strong>3</strong> synced" in listing.text

    async def test_without_auto_start_no_crawl_runs_and_empty_fields_take_the_defaults(
        self, client, org, sign_in, site
    ):
        admin = await sign_in(org)
        response = await admin.post(
            "/knowledge",
            add_form(
                f"{site.base}/docs/", page_limit="", crawl_interval_hours="", auto_start_crawl=""
            ),
        )
        assert response.status_code == 303
        [ds] = await api_datasources(client, org)
        assert ds["page_limit"] == 100 and ds["crawl_interval_hours"] is None
        assert ds["display_name"] == "127.0.0.1"
        jobs = await client.get(f"/crawl/{ds['id']}/crawls", headers=org.headers)
        assert jobs.json()["items"] == []
        page = await admin.get(f"/knowledge/{ds['id']}")
        assert 'data-testid="no-jobs"' in page.text and 'data-testid="crawl-start"' in page.text
        assert "no scheduled re-crawl" in page.text

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"url": ""}, "url is required"),
            ({"url": "ftp://files.example/"}, "url must be"),
            ({"page_limit": "6000"}, "page_limit must not be greater than 5000"),
            ({"page_limit": "many"}, "page_limit must be an integer"),
            ({"crawl_interval_hours": "12"}, "crawl_interval_hours must not be less than 24"),
            ({"include_paths": "docs"}, "include_paths patterns must start with / or *"),
            ({"exclude_paths": "/x\n" * 51}, "exclude_paths must have at most 50 lines"),
        ],
    )
    async def test_bad_input_is_a_400_page_naming_the_field(
        self, client, org, sign_in, site, fields, message
    ):
        admin = await sign_in(org)
        form = {**add_form(f"{site.base}/docs/"), **fields}
        response = await admin.post("/knowledge", form)
        assert response.status_code == 400
        assert "Check what you entered" in response.text and message in response.text
        assert await api_datasources(client, org) == []

    async def test_the_same_address_twice_is_a_clear_conflict(self, client, org, sign_in, site):
        admin = await sign_in(org)
        await quiet_datasource(client, org, f"{site.base}/docs/")
        response = await admin.post("/knowledge", add_form(f"{site.base}/docs/"))
        assert response.status_code == 409 and "already exists" in response.text


class TestPrivateAddresses:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"JOBS_SCHEDULER_INTERVAL_SECONDS": 3600}

    async def test_a_private_address_is_refused_unless_the_install_allows_it(
        self, client, org, sign_in
    ):
        admin = await sign_in(org)
        response = await admin.post("/knowledge", add_form("http://127.0.0.1:9/docs/"))
        assert response.status_code == 400 and "url is not allowed" in response.text
        assert await api_datasources(client, org) == []


class TestChangeWebsite:
    async def test_rules_pause_resume_and_delete_reach_the_api(self, client, org, sign_in, site):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        base = f"/knowledge/{ds['id']}"
        saved = await admin.post(
            f"{base}/settings",
            {
                "display_name": "Docs",
                "page_limit": "20",
                "include_paths": "/docs",
                "exclude_paths": "/docs/private*\n/tmp",
                "crawl_interval_hours": "",
            },
        )
        assert saved.status_code == 303 and saved.headers["location"] == base
        read = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert read["display_name"] == "Docs" and read["page_limit"] == 20
        assert read["include_paths"] == ["/docs"]
        assert read["exclude_paths"] == ["/docs/private*", "/tmp"]
        assert read["crawl_interval_hours"] is None
        assert (await admin.post(f"{base}/status", {"status": "paused"})).status_code == 303
        read = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert read["status"] == "paused"
        assert 'data-testid="ds-resume"' in (await admin.get(base)).text
        assert (await admin.post(f"{base}/status", {"status": "active"})).status_code == 303
        read = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert read["status"] == "active"
        deleted = await admin.post(f"{base}/delete")
        assert deleted.status_code == 303 and deleted.headers["location"] == "/knowledge"
        assert (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).status_code == 404
        assert (await admin.get(base)).status_code == 404

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"display_name": " "}, "display_name must not be empty"),
            ({"page_limit": ""}, "page_limit must not be empty"),
            ({"page_limit": "0"}, "page_limit must not be less than 1"),
            ({"crawl_interval_hours": "23"}, "crawl_interval_hours must not be less than 24"),
        ],
    )
    async def test_bad_rules_are_refused_and_nothing_changes(
        self, client, org, sign_in, site, fields, message
    ):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/", page_limit=30)
        form = {"display_name": "Docs", "page_limit": "40", "crawl_interval_hours": "48", **fields}
        response = await admin.post(f"/knowledge/{ds['id']}/settings", form)
        assert response.status_code == 400 and message in response.text
        read = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert read["page_limit"] == 30 and read["display_name"] == "127.0.0.1"

    async def test_an_unknown_status_is_refused(self, client, org, sign_in, site):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        response = await admin.post(f"/knowledge/{ds['id']}/status", {"status": "sleeping"})
        assert response.status_code == 400 and "status must be one of" in response.text


class TestCrawls:
    async def test_start_then_a_second_start_conflicts_and_cancel_ends_it(
        self, client, org, sign_in
    ):
        slow = docs_site(8)
        slow.delay_seconds = 0.5
        with serve(slow):
            admin = await sign_in(org)
            ds = await quiet_datasource(client, org, f"{slow.base}/docs/")
            base = f"/knowledge/{ds['id']}"
            started = await admin.post(f"{base}/crawls")
            assert started.status_code == 303 and started.headers["location"] == base
            [job] = (await client.get(f"/crawl/{ds['id']}/crawls", headers=org.headers)).json()[
                "items"
            ]
            assert job["trigger"] == "manual" and job["status"] in ("pending", "scraping")
            again = await admin.post(f"{base}/crawls")
            assert again.status_code == 409 and "already running" in again.text
            page = await admin.get(base)
            assert 'data-testid="crawl-cancel"' in page.text
            assert 'hx-trigger="every 1s"' in page.text
            cancelled = await admin.post(f"{base}/crawls/{job['id']}/cancel")
            assert cancelled.status_code == 303
            ended = await wait_for_job(client, org, ds["id"])
            assert ended["status"] == "cancelled"
            again = await admin.post(f"{base}/crawls/{job['id']}/cancel")
            assert again.status_code == 409 and "already finished" in again.text

    async def test_the_progress_panel_polls_while_a_job_runs_and_stops_when_it_ends(
        self, client, org, sign_in, sessionmaker, site
    ):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        now = utcnow()
        async with transaction(sessionmaker) as db:
            job = CrawlJob(
                org_id=uuid.UUID(org.id),
                datasource_id=uuid.UUID(ds["id"]),
                status="scraping",
                trigger="manual",
                started_at=now,
                total_pages=40,
                completed_pages=12,
                new_pages=9,
                updated_pages=2,
                unchanged_pages=1,
                removed_pages=3,
            )
            db.add(job)
        url = f"/knowledge/{ds['id']}/progress"
        polled = await admin.get(url, headers={"HX-Request": "true"})
        assert polled.status_code == 200
        assert 'hx-trigger="every 1s"' in polled.text and "HX-Trigger" not in polled.headers
        for name, value in (
            ("completed", 12), ("total", 40), ("new", 9), ("updated", 2), ("unchanged", 1),
            ("removed", 3),
        ):  # fmt: skip
            assert f'data-testid="job-{name}">{value}<' in polled.text
        assert 'data-testid="job-status">scraping<' in polled.text
        async with transaction(sessionmaker) as db:
            await db.execute(
                sa.update(CrawlJob)
                .where(CrawlJob.id == job.id)
                .values(status="completed", completed_pages=40, completed_at=utcnow())
            )
        done = await admin.get(url, headers={"HX-Request": "true"})
        assert "hx-trigger" not in done.text
        assert done.headers["HX-Trigger"] == "dp:crawl-finished"
        assert 'data-testid="job-status">completed<' in done.text
        assert 'data-testid="job-completed">40<' in done.text


class TestPages:
    async def test_the_list_shows_each_status_and_filters_by_it(
        self, client, org, sign_in, sessionmaker, site
    ):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        synced, failing, excluded, pending = await add_pages(
            sessionmaker,
            org,
            ds["id"],
            [
                {"url": f"{site.base}/docs/a", "title": "Alpha", "status": "synced",
                 "last_synced_at": utcnow()},
                {"url": f"{site.base}/docs/b", "title": "Beta", "status": "error",
                 "error_message": "http_error: HTTP 500"},
                {"url": f"{site.base}/docs/c", "title": "Gamma", "status": "excluded"},
                {"url": f"{site.base}/docs/d", "status": "pending"},
            ],
        )  # fmt: skip
        base = f"/knowledge/{ds['id']}"
        page = await admin.get(base)
        assert page_rows(page.text) == [
            (pending, "pending"), (excluded, "excluded"), (failing, "error"), (synced, "synced"),
        ]  # fmt: skip
        assert 'data-testid="page-error">http_error: HTTP 500<' in page.text
        for status, expected in (
            ("synced", synced), ("error", failing), ("excluded", excluded), ("pending", pending),
        ):  # fmt: skip
            filtered = await admin.get(base, params={"status": status})
            assert [pid for pid, _ in page_rows(filtered.text)] == [expected], status
        found = await admin.get(base, params={"q": "gamma"})
        assert [pid for pid, _ in page_rows(found.text)] == [excluded]
        nothing = await admin.get(base, params={"status": "error", "q": "alpha"})
        assert page_rows(nothing.text) == [] and "No page matches." in nothing.text
        # An unknown status from the address bar shows everything rather than failing.
        assert len(page_rows((await admin.get(base, params={"status": "weird"})).text)) == 4

    async def test_the_list_is_paginated(self, client, org, sign_in, sessionmaker, site):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        ids = await add_pages(
            sessionmaker,
            org,
            ds["id"],
            [{"url": f"{site.base}/docs/p{i}", "status": "synced"} for i in range(30)],
        )
        base = f"/knowledge/{ds['id']}"
        first = await admin.get(base)
        shown = [pid for pid, _ in page_rows(first.text)]
        assert shown == list(reversed(ids))[:25]
        link = re.search(r'href="([^"]+)" data-testid="pages-next"', first.text)
        assert link is not None
        second = await admin.get(link.group(1).replace("&amp;", "&"))
        rest = [pid for pid, _ in page_rows(second.text)]
        assert rest == list(reversed(ids))[25:]
        assert 'data-testid="pages-next"' not in second.text
        assert 'data-testid="pages-first"' in second.text

    async def test_exclude_include_and_resync_change_what_the_api_reads(
        self, client, org, sign_in, site
    ):
        admin = await sign_in(org)
        response = await admin.post("/knowledge", add_form(f"{site.base}/docs/"))
        assert response.status_code == 303
        [ds] = await api_datasources(client, org)
        assert (await wait_for_job(client, org, ds["id"]))["status"] == "completed"
        pages_url = f"/crawl/{ds['id']}/pages"
        listed = (await client.get(pages_url, headers=org.headers)).json()["items"]
        target = next(p for p in listed if p["url"].endswith("topic-1.html"))
        action = f"/knowledge/{ds['id']}/pages/{target['id']}"

        async def api_status() -> str:
            read = await client.get(f"{pages_url}/{target['id']}", headers=org.headers)
            status: str = read.json()["status"]
            return status

        # htmx: the row comes back, in its new state.
        excluded = await admin.post(f"{action}/exclude", {"back": "status=synced"}, htmx=True)
        assert excluded.status_code == 200
        assert page_rows(excluded.text) == [(target["id"], "excluded")]
        assert 'data-testid="page-include"' in excluded.text
        assert await api_status() == "excluded"
        search = await client.post(
            "/knowledge/search", json={"query": "zebra1 feature 1"}, headers=org.headers
        )
        assert all(hit["page_id"] != target["id"] for hit in search.json()["items"])
        # A plain form: back to the list where it was.
        included = await admin.post(f"{action}/include", {"back": "status=excluded&evil=1"})
        assert included.status_code == 303
        assert included.headers["location"] == f"/knowledge/{ds['id']}?status=excluded"
        assert await api_status() == "pending"
        resynced = await admin.post(f"{action}/resync", htmx=True)
        assert page_rows(resynced.text) == [(target["id"], "pending")]
        job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "completed"
        for _ in range(200):
            if await api_status() == "synced":
                break
            await asyncio.sleep(0.05)
        assert await api_status() == "synced"
        unknown = await admin.post(f"{action}/delete")
        assert unknown.status_code == 400

    async def test_resyncing_an_excluded_page_is_refused(
        self, client, org, sign_in, sessionmaker, site
    ):
        admin = await sign_in(org)
        ds = await quiet_datasource(client, org, f"{site.base}/docs/")
        [page_id] = await add_pages(
            sessionmaker, org, ds["id"], [{"url": f"{site.base}/docs/x", "status": "excluded"}]
        )
        response = await admin.post(f"/knowledge/{ds['id']}/pages/{page_id}/resync")
        assert response.status_code == 409 and "include it before resyncing" in response.text


class TestTenancy:
    async def test_another_orgs_datasource_job_and_pages_are_not_found(
        self, client, org, other_org, sign_in, sessionmaker, site
    ):
        admin = await sign_in(org)
        theirs = await quiet_datasource(client, other_org, f"{site.base}/docs/")
        [their_page] = await add_pages(
            sessionmaker,
            other_org,
            theirs["id"],
            [{"url": f"{site.base}/docs/a", "status": "synced"}],
        )
        started = await client.post(f"/crawl/{theirs['id']}/crawls", headers=other_org.headers)
        their_job = started.json()["id"]
        base = f"/knowledge/{theirs['id']}"
        for path in (base, f"{base}/progress", f"{base}/pages"):
            response = await admin.get(path)
            assert response.status_code == 404, path
            assert "Datasource not found" in response.text
        for path, form in (
            (f"{base}/settings", {"display_name": "Mine now", "page_limit": "5"}),
            (f"{base}/status", {"status": "paused"}),
            (f"{base}/crawls", {}),
            (f"{base}/crawls/{their_job}/cancel", {}),
            (f"{base}/pages/{their_page}/exclude", {}),
            (f"{base}/delete", {}),
        ):
            assert (await admin.post(path, form)).status_code == 404, path
        read = (await client.get(f"/crawl/{theirs['id']}", headers=other_org.headers)).json()
        assert read["display_name"] == "127.0.0.1" and read["status"] == "active"
        page = await client.get(
            f"/crawl/{theirs['id']}/pages/{their_page}", headers=other_org.headers
        )
        assert page.json()["status"] == "synced"
        job = await client.get(
            f"/crawl/{theirs['id']}/crawls/{their_job}", headers=other_org.headers
        )
        assert job.json()["status"] != "cancelled"

    async def test_a_page_or_job_of_another_datasource_is_not_found(
        self, client, org, sign_in, sessionmaker, site
    ):
        admin = await sign_in(org)
        one = await quiet_datasource(client, org, f"{site.base}/docs/")
        two = await quiet_datasource(client, org, f"{site.base}/docs/topic-0.html")
        [page_of_two] = await add_pages(
            sessionmaker, org, two["id"], [{"url": f"{site.base}/x", "status": "synced"}]
        )
        response = await admin.post(f"/knowledge/{one['id']}/pages/{page_of_two}/exclude")
        assert response.status_code == 404 and "Page not found" in response.text
        malformed = await admin.get("/knowledge/not-a-uuid")
        assert malformed.status_code == 404
