"""Crawl jobs end to end in one process: a real site, the real crawler, the real model."""

from __future__ import annotations

import sqlalchemy as sa

from deskpilot.models import Chunk, Page
from tests.crawl.conftest import wait_for_job
from tests.site import LOREM, doc_page


async def add_site(client, org, site, **extra):
    response = await client.post(
        "/crawl", json={"url": f"{site.base}/docs/", **extra}, headers=org.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestFirstCrawl:
    async def test_indexes_every_page_and_search_finds_them(self, client, org, site):
        ds = await add_site(client, org, site)
        job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "completed", job
        assert job["total_pages"] == 7 and job["completed_pages"] == 7
        assert job["new_pages"] == 7 and job["updated_pages"] == job["removed_pages"] == 0
        detail = (await client.get(f"/crawl/{ds['id']}", headers=org.headers)).json()
        assert detail["page_stats"]["synced"] == 7 and detail["active_crawl_job"] is None
        assert detail["last_crawl_completed_at"] is not None
        results = (
            await client.post(
                "/knowledge/search",
                json={"query": "feature 3 does not start", "limit": 3},
                headers=org.headers,
            )
        ).json()["items"]
        assert results[0]["url"] == f"{site.base}/docs/topic-3.html"
        answer = next(hit for hit in results if "zebra3" in hit["text"])
        assert answer["heading"].endswith("Troubleshooting feature 3")
        assert 0 <= results[-1]["score"] <= results[0]["score"] <= 1
        page = (
            await client.get(
                f"/crawl/{ds['id']}/pages", params={"q": "topic-3"}, headers=org.headers
            )
        ).json()["items"][0]
        full = (
            await client.get(f"/crawl/{ds['id']}/pages/{page['id']}", headers=org.headers)
        ).json()
        assert "FEATURE_3_ENABLED" in full["content"] and "Copyright" not in full["content"]

    async def test_include_exclude_and_page_limit(self, client, org, site):
        ds = await add_site(client, org, site, exclude_paths=["/docs/topic-1*"], page_limit=4)
        job = await wait_for_job(client, org, ds["id"])
        pages = (
            await client.get(f"/crawl/{ds['id']}/pages", params={"limit": 100}, headers=org.headers)
        ).json()
        urls = {p["url"] for p in pages["items"] if p["status"] == "synced"}
        assert len(urls) == 4 and job["total_pages"] == 4
        assert f"{site.base}/docs/topic-1.html" not in urls
        assert "/docs/topic-1.html" not in site.fetches()


class TestRecrawl:
    async def test_updated_removed_and_unchanged(self, client, org, site, sessionmaker):
        ds = await add_site(client, org, site)
        await wait_for_job(client, org, ds["id"])
        async with sessionmaker() as session:
            before = dict(
                (await session.execute(sa.select(Chunk.id, Chunk.embedding))).tuples().all()
            )
        site.html(
            "/docs/topic-0.html",
            doc_page(
                "Feature 0 guide",
                f"<p>Feature 0 now uses the setting NEW_SWITCH. {LOREM}</p>",
                ["/docs/"],
            ),
        )
        del site.pages["/docs/topic-5.html"]
        site.hits.clear()
        await client.post(f"/crawl/{ds['id']}/crawls", headers=org.headers)
        job = await wait_for_job(client, org, ds["id"])
        assert job["status"] == "completed"
        assert (job["updated_pages"], job["removed_pages"], job["unchanged_pages"]) == (1, 1, 5)
        async with sessionmaker() as session:
            after = dict(
                (await session.execute(sa.select(Chunk.id, Chunk.embedding))).tuples().all()
            )
            gone = await session.scalar(
                sa.select(sa.func.count()).select_from(Page).where(Page.url.like("%topic-5%"))
            )
        assert gone == 0
        unchanged_ids = set(before) & set(after)
        assert unchanged_ids and all(
            before[i] == after[i] for i in unchanged_ids
        )  # no re-embedding
        assert len(set(after) - set(before)) >= 1  # the updated page's new chunks
        search = (
            await client.post(
                "/knowledge/search", json={"query": "zebra5 feature 5"}, headers=org.headers
            )
        ).json()["items"]
        assert all("topic-5" not in hit["url"] for hit in search)


class TestPageActions:
    async def test_excluded_and_deleted_pages_vanish_from_search_at_once(self, client, org, site):
        ds = await add_site(client, org, site)
        await wait_for_job(client, org, ds["id"])
        query = {"query": "zebra2 feature 2 troubleshooting", "limit": 3}
        top = (await client.post("/knowledge/search", json=query, headers=org.headers)).json()[
            "items"
        ][0]
        assert "topic-2" in top["url"]
        excluded = await client.post(
            f"/crawl/{ds['id']}/pages/{top['page_id']}/exclude", headers=org.headers
        )
        assert excluded.json()["status"] == "excluded"
        hits = (await client.post("/knowledge/search", json=query, headers=org.headers)).json()[
            "items"
        ]
        assert all("topic-2" not in hit["url"] for hit in hits)
        included = await client.post(
            f"/crawl/{ds['id']}/pages/{top['page_id']}/include", headers=org.headers
        )
        assert included.json()["status"] == "pending"
        other = hits[0]
        assert (
            await client.delete(f"/crawl/{ds['id']}/pages/{other['page_id']}", headers=org.headers)
        ).status_code == 204
        again = (await client.post("/knowledge/search", json=query, headers=org.headers)).json()[
            "items"
        ]
        assert all(hit["page_id"] != other["page_id"] for hit in again)

    async def test_resync_refetches_one_page_now(self, client, org, site, app):
        ds = await add_site(client, org, site)
        await wait_for_job(client, org, ds["id"])
        page = (
            await client.get(
                f"/crawl/{ds['id']}/pages", params={"q": "topic-4"}, headers=org.headers
            )
        ).json()["items"][0]
        site.html(
            "/docs/topic-4.html",
            doc_page("Feature 4 guide", f"<p>Feature 4 moved to the lighthouse panel. {LOREM}</p>"),
        )
        site.hits.clear()
        response = await client.post(
            f"/crawl/{ds['id']}/pages/{page['id']}/resync", headers=org.headers
        )
        assert response.status_code == 200 and response.json()["status"] == "pending"
        await app.state.deskpilot.queue.wait_idle()
        assert site.fetches() == {"/docs/topic-4.html": 1}
        full = (
            await client.get(f"/crawl/{ds['id']}/pages/{page['id']}", headers=org.headers)
        ).json()
        assert full["status"] == "synced" and "lighthouse panel" in full["content"]
        hits = (
            await client.post(
                "/knowledge/search", json={"query": "lighthouse panel"}, headers=org.headers
            )
        ).json()
        assert "topic-4" in hits["items"][0]["url"]

    async def test_deleting_the_datasource_empties_the_knowledge(self, client, org, site):
        ds = await add_site(client, org, site)
        await wait_for_job(client, org, ds["id"])
        assert (await client.delete(f"/crawl/{ds['id']}", headers=org.headers)).status_code == 204
        hits = (
            await client.post("/knowledge/search", json={"query": "feature"}, headers=org.headers)
        ).json()
        assert hits == {"items": []}


class TestIsolation:
    async def test_one_orgs_search_never_returns_another_orgs_chunks(self, client, org, site):
        from tests.factories import make_org

        other = await make_org(client, org.partner, name="Other")
        ds = await add_site(client, org, site)
        await wait_for_job(client, org, ds["id"])
        mine = (
            await client.post("/knowledge/search", json={"query": "zebra1"}, headers=org.headers)
        ).json()
        theirs = (
            await client.post("/knowledge/search", json={"query": "zebra1"}, headers=other.headers)
        ).json()
        assert mine["items"] and theirs == {"items": []}
        foreign = await client.get(f"/crawl/{ds['id']}/pages", headers=other.headers)
        assert foreign.status_code == 404
