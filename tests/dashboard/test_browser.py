"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright against
one real `deskpilot serve` for the module. Staff arrive by login links; visitors talk
through the widget API; the Org API trains the AI. Every page must keep its console free
of errors (CSP violations included), except where a test expects a refusal page."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)

from deskpilot import db as database
from deskpilot.partner.schemas import Branding
from tests.conftest import _empty_all_tables, make_settings
from tests.factories import OrgFixture, make_org, make_partner
from tests.server import running_server, server_env
from tests.widget.conftest import Browser as Visitor
from tests.widget.conftest import unverified

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACCENT = "#ff6600"
OWNER = "owner@acme.example"
AGENT = "grace@acme.example"
VOUCHERS = {
    "title": "Do you sell gift vouchers?",
    "content": "Yes: gift vouchers from 10 to 200 EUR are sold in the shop under Vouchers.",
}
expect.set_options(timeout=15_000)


@dataclass
class Deployment:
    base: str
    shop: OrgFixture
    other: OrgFixture
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("dashboard-data")
    env = server_env(migrated, data_dir, RATE_LIMIT_ENABLED="false")
    settings = make_settings(migrated, data_dir)
    engine = database.create_engine(settings)
    try:
        partner = await make_partner(
            database.create_sessionmaker(engine),
            branding=Branding(
                app_name="Acme Help", support_email="help@acme.example", primary_color=ACCENT
            ),
        )
        with running_server(env) as base:
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
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


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


async def new_visitor(deployment: Deployment, name: str) -> tuple[Visitor, str]:
    visitor = await unverified(deployment.http, deployment.shop, non_verified_name=name)
    session_id = (await visitor.create_session())["id"]
    return visitor, session_id


def item(page: Page, session_id: str) -> Any:
    return page.locator(f"[data-testid=conversation-item][data-session-id='{session_id}']")


async def session_status(deployment: Deployment, session_id: str) -> dict[str, Any]:
    response = await deployment.http.get(
        f"/chat/sessions/{session_id}", headers=deployment.shop.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestSignIn:
    async def test_a_login_link_lands_on_the_branded_inbox(
        self, page: Page, deployment: Deployment
    ) -> None:
        await page.goto(await login_link(deployment, deployment.shop, "ann@acme.example", "/inbox"))
        await expect(page).to_have_url(f"{deployment.base}/inbox")
        await expect(page).to_have_title("Inbox · Acme Help")
        await expect(page.locator(".app-name")).to_have_text("Acme Help")
        await expect(page.locator(".org-name")).to_have_text("Acme Outdoor")
        await expect(page.locator("footer")).to_contain_text("help@acme.example")
        accent = await page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
        )
        assert accent == ACCENT
        assert "deskpilot" not in (await page.locator("body").inner_text()).lower()
        await live(page)


class TestLiveInbox:
    async def test_a_handoff_from_the_widget_appears_without_reload(
        self, page: Page, deployment: Deployment
    ) -> None:
        await sign_in(page, deployment)
        await live(page)
        visitor, session_id = await new_visitor(deployment, "Walter Widget")
        await expect(item(page, session_id)).to_be_visible()
        sent = await visitor.send(session_id, "I want to talk to a person, please")
        assert sent["sessionIsHandedOff"] is True, sent
        await expect(item(page, session_id).locator("[data-testid=state]")).to_have_text(
            "handed off"
        )
        await expect(item(page, session_id)).to_contain_text("Walter Widget")
        await expect(page.locator("[data-testid=tab-handed_off] .count")).not_to_have_text("0")
        await still_same_page(page)

    async def test_an_agent_reply_reaches_the_visitor_and_their_answer_shows_live(
        self, page: Page, deployment: Deployment
    ) -> None:
        visitor, session_id = await new_visitor(deployment, "Rita Reply")
        await sign_in(page, deployment, path=f"/inbox/{session_id}")
        await live(page)
        await page.locator("[data-testid=composer]").fill("Hello Rita, your parcel left today.")
        await page.locator("[data-testid=send-reply]").click()
        agent_message = page.locator("[data-kind=agent] [data-testid=event-text]")
        await expect(agent_message).to_have_text("Hello Rita, your parcel left today.")
        await expect(page.locator("[data-testid=composer]")).to_have_value("")
        await expect(page.locator("[data-testid=conversation-state]")).to_contain_text("with Grace")
        deadline = time.monotonic() + 10
        while True:
            seen = await visitor.history(session_id)
            texts = [i["content"]["text"] for i in seen if i["type"] == "agent_message"]
            if texts:
                break
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.2)
        assert texts == ["Hello Rita, your parcel left today."]
        # The visitor answers: the open conversation shows it without reload.
        await visitor.send(session_id, "Thank you, that was quick!")
        contact = page.locator("[data-kind=contact] [data-testid=event-text]")
        await expect(contact.last).to_have_text("Thank you, that was quick!")
        await still_same_page(page)

    async def test_resolving_a_conversation(self, page: Page, deployment: Deployment) -> None:
        _, session_id = await new_visitor(deployment, "Ross Resolve")
        await sign_in(page, deployment, path=f"/inbox/{session_id}")
        await page.locator("[data-testid=resolve]").click()
        await expect(page.locator("[data-testid=conversation-state]")).to_contain_text("Resolved")
        await expect(page.locator("[data-testid=reopen]")).to_be_visible()
        await expect(page.locator("[data-type=session_closed]")).to_be_visible()
        assert (await session_status(deployment, session_id))["status"] == "closed_resolved"
        await page.goto(f"{deployment.base}/inbox?view=resolved")
        await expect(item(page, session_id)).to_be_visible()

    async def test_a_note_is_marked_internal_and_tags_and_hand_back_work(
        self, page: Page, deployment: Deployment
    ) -> None:
        response = await deployment.http.put(
            "/tags", json={"tag_name": "Shipping"}, headers=deployment.shop.headers
        )
        assert response.status_code in (200, 201), response.text
        _, session_id = await new_visitor(deployment, "Nina Note")
        await sign_in(page, deployment, path=f"/inbox/{session_id}")
        await page.locator("[data-testid=composer]").fill("Check the courier first")
        await page.locator("[data-testid=add-note]").click()
        note = page.locator("[data-kind=note]")
        await expect(note).to_contain_text("Internal note · not visible to the contact")
        await page.locator("[data-testid=add-tag]").select_option("Shipping")
        await page.get_by_role("button", name="Add tag").click()
        await expect(page.locator("[data-testid=tags]")).to_contain_text("Shipping")
        await page.locator("[data-testid=take-over]").click()
        await expect(page.locator("[data-testid=conversation-state]")).to_contain_text("with Grace")
        await page.locator("[data-testid=hand-back]").click()
        await expect(page.locator("[data-testid=conversation-state]")).to_contain_text(
            "the AI is answering"
        )
        status = await session_status(deployment, session_id)
        assert status["tags"] == ["Shipping"] and status["assignee_id"] is None


class TestConsole:
    async def test_publishing_a_scenario_changes_the_next_answer(
        self, page: Page, deployment: Deployment
    ) -> None:
        await sign_in(page, deployment, path="/console")

        result = page.locator("[data-testid=console-result]")

        async def ask() -> str:
            before = await result.get_attribute("data-answer-id") if await result.count() else ""
            await page.locator("[data-testid=console-question]").fill(VOUCHERS["title"])
            await page.locator("[data-testid=console-channel]").select_option("web")
            await page.locator("[data-testid=console-ask]").click()
            await expect(result).to_have_attribute(
                "data-answer-id", re.compile(r"^(?!" + (before or "x") + r"$)"), timeout=30_000
            )
            return await result.locator("[data-testid=console-reply]").inner_text()

        first = await ask()
        assert "10 to 200 EUR" not in first
        created = await deployment.http.post(
            "/training", json={**VOUCHERS, "is_draft": True}, headers=deployment.shop.headers
        )
        assert created.status_code == 201, created.text
        assert "10 to 200 EUR" not in await ask()
        training_id = created.json()["id"]
        published = await deployment.http.put(
            f"/training/{training_id}/draft",
            json={"is_draft": False},
            headers=deployment.shop.headers,
        )
        assert published.status_code == 200, published.text
        assert "10 to 200 EUR" in await ask()
        await expect(page.locator("[data-testid=console-decision]")).to_have_text("answer")
        await expect(page.locator("[data-testid=debug-scenarios]")).to_contain_text(
            VOUCHERS["title"]
        )
        chats = await deployment.http.get(
            "/chat/sessions", params={"channel_type": "web"}, headers=deployment.shop.headers
        )
        assert all(VOUCHERS["title"] not in str(s) for s in chats.json()["items"])


class TestRefusals:
    async def test_a_form_post_without_the_csrf_token_is_refused(
        self, context: BrowserContext, deployment: Deployment
    ) -> None:
        _, session_id = await new_visitor(deployment, "Cara Csrf")
        page = await context.new_page()
        await sign_in(page, deployment, path=f"/inbox/{session_id}")
        async with page.expect_navigation() as navigation:
            await page.evaluate(
                """(id) => {
                    const form = document.createElement("form");
                    form.method = "post";
                    form.action = `/inbox/${id}/resolve`;
                    document.body.append(form);
                    form.submit();
                }""",
                session_id,
            )
        response = await navigation.value
        assert response is not None and response.status == 403
        await expect(page.locator("h1")).to_have_text("Request refused")
        await expect(page.locator(".app-name")).to_have_text("Acme Help")
        assert (await session_status(deployment, session_id))["status"] == "open"

    async def test_an_agent_of_one_org_cannot_open_a_conversation_of_another(
        self, context: BrowserContext, deployment: Deployment
    ) -> None:
        created = await deployment.http.post(
            "/chat/sessions",
            json={"contact": {"name": "Secret Sam"}},
            headers=deployment.other.headers,
        )
        theirs = created.json()["id"]
        page = await context.new_page()
        await sign_in(page, deployment)
        response = await page.goto(f"{deployment.base}/inbox/{theirs}")
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_have_text("Not found")
        assert "Secret Sam" not in await page.content()


class TestEveryPage:
    async def test_every_page_renders_without_console_errors(
        self, page: Page, deployment: Deployment
    ) -> None:
        visitor, session_id = await new_visitor(deployment, "Paula Pages")
        await visitor.send(session_id, "How long does delivery take?")
        await sign_in(page, deployment, path="/", email=OWNER)
        await expect(page.locator("[data-testid=account]")).to_have_text("Owner · admin")
        for path in ["/", "/inbox", "/inbox?view=all", f"/inbox/{session_id}", "/console", "/team"]:
            response = await page.goto(f"{deployment.base}{path}")
            assert response is not None and response.status == 200, path
            await expect(page.locator(".app-name")).to_have_text("Acme Help")
        # The AI's turn on that message left its record: the debug panel opens.
        await page.goto(f"{deployment.base}/inbox/{session_id}")
        panel = page.locator("[data-testid=debug]").first
        await panel.locator("> summary").click()
        await expect(panel).to_have_attribute("open", "")
        await expect(panel).to_contain_text("Knowledge used")
        await expect(panel.locator("[data-testid=debug-decision]")).to_have_text("handoff")
