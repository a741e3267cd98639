"""A crawl job that ends is announced: a real crawl of a real local site, and the receiver
gets `crawl.job.completed` (or `crawl.job.failed`) with the job's final counters, once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.crawl.conftest import wait_for_job
from tests.site import docs_site, serve
from tests.webhooks.conftest import FAST_RETRIES, all_settled, create_webhook, eventually


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "WEBHOOKS_ALLOW_HTTP": True,
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True,
        "WEBHOOKS_TIMEOUT_SECONDS": 2,
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS": FAST_RETRIES,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
    }


async def add_datasource(client: Any, org: Any, url: str) -> dict[str, Any]:
    response = await client.post("/crawl", json={"url": url}, headers=org.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestCrawlJobEvents:
    async def test_a_completed_crawl_delivers_its_final_counters(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(
            client, org, receiver.url, ["crawl.job.completed", "crawl.job.failed"]
        )
        with serve(docs_site(3)) as site:
            ds = await add_datasource(client, org, f"{site.base}/docs/")
            job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "completed", job
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="the delivery")
        [body] = receiver.events()
        assert body["event"] == "crawl.job.completed"
        assert body["organization_id"] == org.id
        data = body["data"]
        assert set(data) == {"datasource_id", "job", "timestamp"}
        assert data["datasource_id"] == ds["id"]
        assert data["job"]["id"] == job["id"] and data["job"]["status"] == "completed"
        # The counters as the job ended, not as it started.
        assert data["job"]["completed_pages"] == 4 and data["job"]["new_pages"] == 4
        assert data["job"]["completed_at"] == job["completed_at"]
        assert data["timestamp"] == job["completed_at"]

    async def test_a_failed_crawl_delivers_crawl_job_failed_with_the_reason(
        self, client, org, receiver, sessionmaker
    ):
        hook = await create_webhook(client, org, receiver.url, ["crawl.job.failed"])
        closed = docs_site(1)
        closed.pages["/robots.txt"] = ("text/plain", "User-agent: *\nDisallow: /\n")
        with serve(closed) as site:
            ds = await add_datasource(client, org, f"{site.base}/docs/")
            job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "failed", job
        await eventually(lambda: all_settled(sessionmaker, hook["id"], 1), what="the delivery")
        [body] = receiver.events()
        assert body["event"] == "crawl.job.failed"
        assert body["data"]["job"]["status"] == "failed"
        assert "robots.txt" in body["data"]["job"]["error_message"]

    async def test_a_cancelled_crawl_is_not_announced(self, client, org, receiver, sessionmaker):
        hook = await create_webhook(client, org, receiver.url, ["*"])
        slow = docs_site(6)
        slow.delay_seconds = 0.3
        with serve(slow) as site:
            ds = await add_datasource(client, org, f"{site.base}/docs/")
            jobs = await client.get(f"/crawl/{ds['id']}/crawls", headers=org.headers)
            job_id = jobs.json()["items"][0]["id"]
            cancelled = await client.post(
                f"/crawl/{ds['id']}/crawls/{job_id}/cancel", headers=org.headers
            )
            assert cancelled.status_code == 200, cancelled.text
            job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "cancelled"
        # A test event sent after the crawl ended arrives alone: nothing came before it.
        sent = await client.post(f"/webhooks/{hook['id']}/test", headers=org.headers)
        assert sent.status_code == 202, sent.text
        await eventually(lambda: receiver.events(), what="the test event")
        await eventually(lambda: all_settled(sessionmaker, hook["id"]), what="the deliveries")
        assert [body["event"] for body in receiver.events()] == ["webhook.test"]
