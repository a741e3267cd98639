"""What the dashboard's browser tests share: a real `deskpilot serve` with a partner and two
orgs (`deploy`, which each browser test module opens once as its `deployment`), Debian's
headless Chromium driven by Playwright with a fresh profile per test, a page whose console
must stay free of errors (CSP violations included), and signing in by login link.

The fixtures here reach the test modules through tests/dashboard/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
)

from deskpilot import db as database
from deskpilot.partner.schemas import Branding
from tests.chromium import chromium
from tests.conftest import _empty_all_tables, make_settings
from tests.factories import OrgFixture, make_org, make_partner
from tests.server import running_server, server_env

ACCENT = "#ff6600"
OWNER = "owner@acme.example"
AGENT = "grace@acme.example"
expect.set_options(timeout=15_000)


@dataclass
class Deployment:
    base: str
    shop: OrgFixture
    other: OrgFixture
    http: httpx.AsyncClient


@asynccontextmanager
async def deploy(
    migrated: str, tmp_path_factory: pytest.TempPathFactory, **env: str
) -> AsyncIterator[Deployment]:
    """The server (`env`: more of its settings), the shop with its owner signed up as the
    first member, and another org of the same partner; emptied afterwards."""
    data_dir = tmp_path_factory.mktemp("dashboard-data")
    server = server_env(migrated, data_dir, RATE_LIMIT_ENABLED="false", **env)
    settings = make_settings(migrated, data_dir)
    engine = database.create_engine(settings)
    try:
        partner = await make_partner(
            database.create_sessionmaker(engine),
            branding=Branding(
                app_name="Acme Help", support_email="help@acme.example", primary_color=ACCENT
            ),
        )
        with running_server(server) as base:
            async with httpx.AsyncClient(base_url=base, timeout=90) as http:
                shop = await make_org(http, partner, name="Acme Outdoor")
                other = await make_org(http, partner, name="Other shop")
                deployment = Deployment(base, shop, other, http)
                # The org's first member, so its admin; everyone after is an agent.
                opened = await http.get(await login_link(deployment, shop, OWNER))
                assert opened.status_code == 303, opened.text
                yield deployment
    finally:
        await engine.dispose()
        await _empty_all_tables(settings)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclass
class Problems:
    """Console errors and uncaught exceptions of every page of a test."""

    console: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console.append(f"uncaught: {error}"))


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile (no cookies) per test."""
    ctx = await browser.new_context(viewport={"width": 1360, "height": 860})
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext, problems: Problems) -> AsyncIterator[Page]:
    tab = await context.new_page()
    problems.watch(tab)
    yield tab
    assert problems.console == [], f"console errors: {problems.console}"


async def login_link(
    deployment: Deployment, org: OrgFixture, email: str, redirect_path: str = "/"
) -> str:
    response = await deployment.http.post(
        f"/partner/v1/orgs/{org.id}/login-links",
        json={"email": email, "name": email.split("@")[0].title(), "redirect_path": redirect_path},
        headers=org.partner.headers,
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url


async def sign_in(
    page: Page, deployment: Deployment, *, path: str = "/inbox", email: str = AGENT
) -> None:
    await page.goto(await login_link(deployment, deployment.shop, email, path))
    name = email.split("@")[0].title()
    await expect(page.locator("[data-testid=account]")).to_contain_text(name)


async def live(page: Page) -> None:
    """The page's event feed is connected: what happens from now on shows without reload."""
    await expect(page.locator("body")).to_have_attribute("data-live", "on")
    await page.evaluate("window.__notReloaded = true")


async def still_same_page(page: Page) -> None:
    assert await page.evaluate("window.__notReloaded === true")
