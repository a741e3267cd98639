"""Knowledge, contacts, API keys and the widget page in a real browser, against a real
`deskpilot serve` that may crawl loopback sites: an admin adds a website, starts its crawl
and watches the counters move without reloading, until the page list shows the synced
pages; the widget preview shows what was just saved; a new API key is shown once."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Page, expect

from tests.dashboard._browser import OWNER, Deployment, deploy, sign_in, still_same_page
from tests.site import Site, docs_site, serve

pytestmark = pytest.mark.slow

SITE_PAGES = 34  # and the home page: 35 to fetch
FETCH_DELAY_SECONDS = 0.5  # per request, two at a time: about four pages a second


@pytest.fixture(scope="module")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    async with deploy(
        migrated,
        tmp_path_factory,
        CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
        CRAWLER_POLITENESS_DELAY_SECONDS="0",
        CRAWLER_CONCURRENCY_PER_HOST="2",
    ) as running:
        yield running


@pytest.fixture
def slow_site() -> Iterator[Site]:
    site = docs_site(SITE_PAGES)
    site.delay_seconds = FETCH_DELAY_SECONDS
    with serve(site) as running:
        yield running


async def counter(page: Page, testid: str) -> str:
    return (await page.locator(f"[data-testid={testid}]").inner_text()).strip()


class TestLiveCrawl:
    async def test_an_admin_starts_a_crawl_and_watches_it_progress_without_reload(
        self, page: Page, deployment: Deployment, slow_site: Site
    ) -> None:
        await sign_in(page, deployment, path="/knowledge", email=OWNER)
        await page.locator("[data-testid=ds-url]").fill(f"{slow_site.base}/docs/")
        await page.locator("[data-testid=ds-name]").fill("Slow docs")
        await page.locator("input[name=auto_start_crawl]").uncheck()
        await page.locator("[data-testid=ds-add]").click()
        await expect(page.locator("[data-testid=ds-title]")).to_have_text("Slow docs")
        await expect(page.locator("[data-testid=no-jobs]")).to_be_visible()
        await expect(page.locator("[data-testid=no-pages]")).to_be_visible()

        await page.locator("[data-testid=crawl-start]").click()
        await expect(page.locator("[data-testid=crawl-cancel]")).to_be_visible()
        await page.evaluate("window.__notReloaded = true")

        seen: list[int] = []
        deadline = time.monotonic() + 90
        while True:
            status = await counter(page, "job-status")
            value = int(await counter(page, "job-completed"))
            if not seen or value != seen[-1]:
                seen.append(value)
            if status in ("completed", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"the crawl did not end: {seen}"
            await asyncio.sleep(0.1)
        assert status == "completed"
        assert seen == sorted(seen), seen
        # The counter moved on the page at least twice before the crawl ended.
        assert len([v for v in seen if v < SITE_PAGES + 1]) >= 3, seen
        assert seen[-1] == SITE_PAGES + 1
        await expect(page.locator("[data-testid=job-new]")).to_have_text(str(SITE_PAGES + 1))
        await expect(page.locator("[data-testid=crawl-start]")).to_be_visible()
        # The page list refreshed itself when the crawl ended: the first 25, synced.
        rows = page.locator("[data-testid=page]")
        await expect(rows).to_have_count(25)
        await expect(page.locator("[data-testid=page][data-status=synced]")).to_have_count(25)
        await expect(page.locator("[data-testid=pages-next]")).to_be_visible()
        await expect(page.locator("[data-testid=stat-synced]")).to_have_text(str(SITE_PAGES + 1))
        await still_same_page(page)
        # Polling stopped with the job: the panel no longer asks for updates.
        assert await page.locator("#crawl-progress[hx-trigger]").count() == 0

        # Exclude one page from the list, in place.
        first = rows.first
        page_id = await first.get_attribute("data-page-id")
        await first.locator("[data-testid=page-exclude]").click()
        excluded = page.locator(f"[data-testid=page][data-page-id='{page_id}']")
        await expect(excluded).to_have_attribute("data-status", "excluded")
        await expect(excluded.locator("[data-testid=page-include]")).to_be_visible()
        await still_same_page(page)

        await page.goto(f"{deployment.base}/knowledge")
        row = page.locator("[data-testid=datasource]", has_text="Slow docs")
        await expect(row.locator("[data-testid=datasource-stats]")).to_contain_text(
            f"{SITE_PAGES} synced"
        )


class TestSettingsPages:
    async def test_the_widget_preview_shows_the_saved_settings(
        self, page: Page, deployment: Deployment
    ) -> None:
        await sign_in(page, deployment, path="/settings/widget", email=OWNER)
        snippet = page.locator("[data-testid=widget-snippet]")
        await expect(snippet).to_contain_text(f"{deployment.base}/widget.js")
        await expect(snippet).to_contain_text(deployment.shop.widget_token)
        preview = page.frame_locator("[data-testid=widget-preview]")
        await expect(preview.locator("h1")).to_have_text("Acme Outdoor")
        title = preview.locator("deskpilot-widget [data-testid=title]")
        await expect(title).to_be_visible()
        await page.locator("[data-testid=widget-bot-name]").fill("Trail guide")
        await page.locator("[data-testid=widget-questions]").fill("Which boots fit me?")
        await page.locator("[data-testid=widget-save]").click()
        await expect(page.locator("[data-testid=widget-bot-name]")).to_have_value("Trail guide")
        await expect(title).to_have_text("Trail guide")
        read = await deployment.http.get("/widget-settings", headers=deployment.shop.headers)
        assert read.json()["bot_name"] == "Trail guide"

    async def test_a_new_api_key_is_shown_once(self, page: Page, deployment: Deployment) -> None:
        await sign_in(page, deployment, path="/settings/api-keys", email=OWNER)
        await page.locator("[data-testid=key-name-input]").fill("Browser made")
        await page.locator("[data-testid=key-create]").click()
        secret = await page.locator("[data-testid=new-key-secret]").input_value()
        assert re.fullmatch(r"dp_live_[0-9A-Za-z]{40}", secret)
        used = await deployment.http.get("/org", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 200
        await page.goto(f"{deployment.base}/settings/api-keys")
        await expect(page.locator("[data-testid=new-key]")).to_have_count(0)
        assert secret not in await page.content()
        row = page.locator("[data-testid=key]", has_text="Browser made")
        await row.locator("[data-testid=key-revoke]").click()
        await expect(row).to_have_attribute("data-state", "revoked")
        used = await deployment.http.get("/org", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 401

    async def test_contacts_are_found_and_edited(self, page: Page, deployment: Deployment) -> None:
        created = await deployment.http.post(
            "/contacts",
            json={"contact": {"name": "Hilda Hiker", "email": "hilda@trail.example"}},
            headers=deployment.shop.headers,
        )
        contact_id = created.json()["id"]
        await sign_in(page, deployment, path="/people")
        await page.locator("[data-testid=contacts-search]").fill("hilda")
        await page.locator("[data-testid=contacts-search]").press("Enter")
        await page.locator("[data-testid=contact-name]", has_text="Hilda Hiker").click()
        await expect(page).to_have_url(f"{deployment.base}/people/{contact_id}")
        await page.locator("[data-testid=contact-phone-input]").fill("+4915112345678")
        await page.locator("[data-testid=contact-save]").click()
        await expect(page.locator("[data-testid=contact-phone-input]")).to_have_value(
            "+4915112345678"
        )
        read = await deployment.http.get(f"/contacts/{contact_id}", headers=deployment.shop.headers)
        assert read.json()["phone_number"] == "+4915112345678"
