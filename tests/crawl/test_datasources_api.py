"""Datasource, crawl-job and page endpoints: validation, lifecycle, tenancy."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import make_org

pytestmark = pytest.mark.usefixtures("private_crawls")


@pytest.fixture
def private_crawls(settings_overrides):
    settings_overrides["CRAWLER_ALLOW_PRIVATE_NETWORKS"] = True


async def create(client: httpx.AsyncClient, org, **body):
    payload = {"url": "http://127.0.0.1:9/docs/", "auto_start_crawl": False, **body}
    return await client.post("/crawl", json=payload, headers=org.headers)


class TestCreateDatasource:
    async def test_defaults(self, client, org):
        response = await create(client, org)
        assert response.status_code == 201
        body = response.json()
        assert body["page_limit"] == 100
        assert body["crawl_interval_hours"] == 168
        assert body["include_paths"] == [] and body["exclude_paths"] == []
        assert body["status"] == "active"
        assert body["display_name"] == "127.0.0.1"
        assert body["url"] == "http://127.0.0.1:9/docs/"
        assert body["next_crawl_at"] is not None

    async def test_null_page_limit_means_5000_and_null_interval_means_no_schedule(
        self, client, org
    ):
        body = (await create(client, org, page_limit=None, crawl_interval_hours=None)).json()
        assert body["page_limit"] == 5000
        assert body["crawl_interval_hours"] is None and body["next_crawl_at"] is None

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"page_limit": 5001}, "page_limit must not be greater than 5000"),
            ({"page_limit": 0}, "page_limit must not be less than 1"),
            ({"crawl_interval_hours": 23}, "crawl_interval_hours must not be less than 24"),
            ({"url": "ftp://example.com/"}, "url must be an http or https URL"),
            ({"include_paths": ["blog"]}, "include_paths patterns must start with / or *"),
            ({"exclude_paths": ["/x"] * 51}, "exclude_paths has the wrong number of items"),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, extra, message):
        response = await create(client, org, **extra)
        assert response.status_code == 400
        assert response.json()["message"] == message

    async def test_same_normalised_url_twice_is_a_conflict(self, client, org):
        assert (await create(client, org, url="HTTP://127.0.0.1:9/docs/#top")).status_code == 201
        again = await create(client, org, url="http://127.0.0.1:9/docs/")
        assert again.status_code == 409

    async def test_at_most_20_per_org(self, client, org):
        for i in range(20):
            assert (await create(client, org, url=f"http://127.0.0.1:9/s{i}/")).status_code == 201
        assert (await create(client, org, url="http://127.0.0.1:9/s20/")).status_code == 409


class TestPrivateAddressesRefused:
    @pytest.fixture
    def private_crawls(self, settings_overrides):
        settings_overrides["CRAWLER_ALLOW_PRIVATE_NETWORKS"] = False

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1/",
            "http://localhost:8000/",
            "http://169.254.169.254/latest/",
            "http://10.1.2.3/",
            "http://[::1]/",
        ],
    )
    async def test_loopback_private_and_metadata_addresses(self, client, org, url):
        response = await create(client, org, url=url)
        assert response.status_code == 400
        assert "not allowed" in response.json()["message"]


class TestDatasourceLifecycle:
    async def test_get_update_pause_and_delete(self, client, org):
        ds = (await create(client, org)).json()
        detail = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert detail["page_stats"] == {
            "total": 0,
            "synced": 0,
            "pending": 0,
            "error": 0,
            "excluded": 0,
        }
        assert detail["active_crawl_job"] is None
        paused = await client.patch(
            f"/crawl/{ds['id']}", json={"status": "paused", "page_limit": 10}, headers=org.headers
        )
        assert paused.status_code == 200
        assert paused.json()["status"] == "paused" and paused.json()["page_limit"] == 10
        assert paused.json()["next_crawl_at"] is None
        listed = (await client.get("/crawl", headers=org.headers)).json()
        assert [d["id"] for d in listed["items"]] == [ds["id"]]
        assert (await client.delete(f"/crawl/{ds['id']}", headers=org.headers)).status_code == 204
        assert (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).status_code == 404

    async def test_start_then_a_second_start_conflicts_then_cancel(self, client, org):
        ds = (await create(client, org)).json()
        job = await client.post(f"/crawl/{ds['id']}/crawls", headers=org.headers)
        assert job.status_code == 202
        assert job.json()["status"] in ("pending", "scraping", "failed")
        if job.json()["status"] != "failed":
            again = await client.post(f"/crawl/{ds['id']}/crawls", headers=org.headers)
            assert again.status_code in (409, 202)


class TestTenancy:
    async def test_another_orgs_datasource_is_404_everywhere(self, client, sessionmaker, org):
        other = await make_org(client, org.partner, name="Other")
        ds = (await create(client, org)).json()
        base = f"/crawl/{ds['id']}"
        fake_page = "5b0c2ea4-9a57-4c1e-8d42-3f1f1d9b0e11"
        attempts = [
            client.get(base, headers=other.headers),
            client.patch(base, json={"status": "paused"}, headers=other.headers),
            client.delete(base, headers=other.headers),
            client.post(f"{base}/crawls", headers=other.headers),
            client.get(f"{base}/crawls", headers=other.headers),
            client.get(f"{base}/pages", headers=other.headers),
            client.post(f"{base}/pages/{fake_page}/exclude", headers=other.headers),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, response.request.url
        assert (await client.get("/crawl", headers=other.headers)).json()["items"] == []
        assert (await client.get(base, headers=org.headers)).status_code == 200
