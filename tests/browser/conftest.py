"""Browser tests: Debian's headless Chromium, driven by Playwright, against one real
`deskpilot serve` for the whole package, with the widget embedded in pages served from a
separate local origin (another port on loopback).

The server's org `shop` has a small support site crawled into its knowledge (the offline
responder answers from it); `other` is a second org with nothing in it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    expect,
)

from deskpilot import db as database
from tests.agent.conftest import PROFILE, crawl, support_site
from tests.chromium import CHROMIUM, chromium
from tests.conftest import _empty_all_tables, make_settings
from tests.factories import OrgFixture, make_org, make_partner
from tests.server import running_server, server_env
from tests.site import Site, doc_page, serve

WIDGET = "deskpilot-widget"
ANY = re.compile(r".+")
expect.set_options(timeout=10_000)


def knowledge_site() -> Site:
    """The agent tests' support site, plus a page whose text is markup (escaped in its HTML,
    so the crawler reads it as literal text the AI may quote)."""
    site = support_site()
    body = (
        "<h2>Gift cards</h2><p>Gift cards never expire. To redeem a gift card, type its code"
        " into the gift card field at checkout. Codes look like &lt;b id=&quot;ai-injected"
        "&quot;&gt;GIFT-1234&lt;/b&gt; and are printed on the back of the card.</p>"
    )
    links = [*(path for path in site.pages if path.endswith(".html")), "/help/giftcards.html"]
    site.html("/help/giftcards.html", doc_page("Gift cards", body, links))
    site.html("/help/", doc_page("Help centre", "<p>Answers about your orders.</p>", links))
    return site


@dataclass
class Deployment:
    base: str  # the deskpilot server
    shop: OrgFixture
    other: OrgFixture


@pytest.fixture(scope="package")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    env = server_env(
        migrated,
        data_dir,
        CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
        CRAWLER_POLITENESS_DELAY_SECONDS="0",
        JOBS_SCHEDULER_INTERVAL_SECONDS="3600",
        # Every test is a new browser, so a new contact: far over the per-IP limit.
        RATE_LIMIT_ENABLED="false",
    )
    settings = make_settings(migrated, data_dir)
    engine = database.create_engine(settings)
    try:
        partner = await make_partner(database.create_sessionmaker(engine))
        with running_server(env) as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                shop = await make_org(http, partner, name="Acme Outdoor")
                other = await make_org(http, partner, name="Other shop")
                with serve(knowledge_site()) as site:
                    await crawl(http, shop, f"{site.base}/help/")
                response = await http.patch(
                    "/org", json={"ai_instructions": PROFILE}, headers=shop.headers
                )
                assert response.status_code == 200, response.text
            yield Deployment(base, shop, other)
    finally:
        await engine.dispose()
        await _empty_all_tables(settings)


@pytest.fixture(scope="package")
def host_site() -> Iterator[Site]:
    """The customer's website: another origin than the deskpilot server."""
    with serve(Site()) as site:
        yield site


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's")
    async with chromium() as launched:
        yield launched


@dataclass
class Problems:
    """What a page said went wrong: console errors, uncaught exceptions, dialogs."""

    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console.append(message.text)

        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console.append(f"uncaught: {error}"))
        page.on("dialog", on_dialog)


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (empty localStorage) per test."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    await ctx.close()


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
async def page(context: BrowserContext, problems: Problems) -> AsyncIterator[Page]:
    """A page whose console must stay free of errors for the whole test."""
    tab = await context.new_page()
    problems.watch(tab)
    yield tab
    assert problems.console == [], f"console errors: {problems.console}"
    assert problems.dialogs == [], f"dialogs: {problems.dialogs}"


def script_json(value: Any) -> str:
    """JSON that cannot end the inline script it sits in."""
    return json.dumps(value).replace("<", "\\u003c")


def host_page(
    deskpilot: str, options: dict[str, Any], *, css: str = "", body: str = "", title: str = "Shop"
) -> str:
    """A page of the customer's site embedding the widget with the documented snippet."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><link rel="icon" href="data:,"><style>{css}</style></head>
<body><h1>{title}</h1><p>Welcome to our shop.</p>{body}
<script src="{deskpilot}/widget.js"></script>
<script>window.chat = initOpenScript({script_json(options)});</script>
</body></html>"""


class Widget:
    """The widget in one page, found through its open shadow root."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def part(self, testid: str) -> Locator:
        return self.page.locator(f"{WIDGET} [data-testid={testid}]")

    @property
    def launcher(self) -> Locator:
        return self.part("launcher")

    @property
    def panel(self) -> Locator:
        return self.part("panel")

    def messages(self, kind: str | None = None) -> Locator:
        selector = f"[data-kind={kind}]" if kind else ""
        return self.page.locator(f"{WIDGET} [data-testid=message]{selector}")

    async def open(self) -> None:
        await self.launcher.click()
        await expect(self.panel).to_be_visible()
        await expect(self.part("input")).to_be_visible()

    async def send(self, text: str) -> None:
        await self.part("input").fill(text)
        await self.part("send").click()

    async def ask(self, text: str) -> Locator:
        """Send and wait for the AI's reply to it; the reply's locator."""
        before = await self.messages("ai").count()
        await self.send(text)
        reply = self.messages("ai").nth(before)
        await expect(reply).to_be_visible(timeout=30_000)
        await expect(self.messages("user").last).to_have_attribute("data-id", ANY)
        return reply

    async def session_id(self, widget_token: str) -> str:
        stored = await self.page.evaluate(
            "key => JSON.parse(localStorage.getItem(key) || '{}')", f"deskpilot:v1:{widget_token}"
        )
        session_id: str = stored["s"]
        return session_id


async def open_host_page(
    page: Page,
    site: Site,
    deployment: Deployment,
    options: dict[str, Any],
    *,
    path: str = "/shop.html",
    **page_fields: Any,
) -> Widget:
    site.html(path, host_page(deployment.base, options, **page_fields))
    await page.goto(site.base + path)
    return Widget(page)


async def agent_says(
    deployment: Deployment, session_id: str, text: str, **extra: Any
) -> httpx.Response:
    """A human agent's reply through the Org API (the dashboard's path)."""
    async with httpx.AsyncClient(base_url=deployment.base, timeout=10) as http:
        response = await http.post(
            f"/chat/sessions/{session_id}/send",
            json={
                "sender": "agent",
                "agent": {"id": 7, "name": "Grace"},
                "message": {"text": text},
                **extra,
            },
            headers=deployment.shop.headers,
        )
    assert response.status_code == 200, response.text
    return response
