"""The embeddable widget in a real browser: the snippet on a page of another origin, the
AI's answers with their sources, handoff, a human agent's push, reload, escaping, hostile
host-page CSS, isolation between widget tokens, i18n and inline mode. Every page must keep
its console free of errors (the `page` fixture checks)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.conftest import (
    ANY,
    WIDGET,
    Deployment,
    Problems,
    Widget,
    agent_says,
    expect,
    open_host_page,
)
from tests.factories import make_org
from tests.site import Site

pytestmark = pytest.mark.slow

MARKUP = (
    '<b id="injected">bold</b><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
)
RETURNS = "How long do I have to return an item?"


@dataclass
class Shop:
    """The shop's widget embedded in the test's page, and the shop's Org API."""

    page: Page
    host_site: Site
    deployment: Deployment

    async def widget(
        self, options: dict[str, Any] | None = None, *, opened: bool = True, **page_fields: Any
    ) -> Widget:
        """A page of the host site with the widget (`options` beside the shop's token, which
        they may replace), opened unless the test looks at it closed first."""
        widget = await open_host_page(
            self.page,
            self.host_site,
            self.deployment,
            {"token": self.deployment.shop.widget_token, **(options or {})},
            **page_fields,
        )
        if opened:
            await widget.open()
        return widget

    async def conversation(self) -> Widget:
        """The widget, opened, once the AI has answered a question about returns."""
        widget = await self.widget()
        await widget.ask(RETURNS)
        return widget

    async def session_id(self) -> str:
        return await Widget(self.page).session_id(self.deployment.shop.widget_token)

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.deployment.base) as http:
            response = await http.get(path, headers=self.deployment.shop.headers)
        assert response.status_code == 200, response.text
        return response

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        """The session's events, as the Org API lists them."""
        response = await self.get(f"/chat/sessions/{session_id}/history")
        return [item["event"] for item in response.json()["items"]]


@pytest.fixture
def shop(page: Page, host_site: Site, deployment: Deployment) -> Shop:
    return Shop(page, host_site, deployment)


@asynccontextmanager
async def watched_tab(opener: Browser | BrowserContext) -> AsyncIterator[Page]:
    """Another tab, in the same browser profile (a context) or on another device (a
    browser); like the test's own page, its console must stay free of errors."""
    tab = await opener.new_page()
    problems = Problems()
    problems.watch(tab)
    try:
        yield tab
        assert problems.console == [], f"console errors: {problems.console}"
        assert problems.dialogs == [], f"dialogs: {problems.dialogs}"
    finally:
        await tab.close()


class TestEmbedding:
    async def test_the_snippet_on_a_page_of_another_origin_opens_the_widget(
        self, page: Page, shop: Shop
    ) -> None:
        assert urlsplit(shop.host_site.base).port != urlsplit(shop.deployment.base).port
        widget = await shop.widget(opened=False)
        await expect(widget.launcher).to_be_visible()
        await expect(widget.launcher).to_have_attribute("aria-expanded", "false")
        await expect(widget.panel).to_be_hidden()

        await widget.open()
        await expect(widget.panel).to_have_attribute("role", "dialog")
        await expect(widget.launcher).to_have_attribute("aria-expanded", "true")
        await expect(widget.part("title")).to_have_text("Acme Outdoor")
        await expect(widget.part("messages")).to_have_attribute("aria-live", "polite")
        # Focus moves into the panel, and back to the launcher when Escape closes it.
        await expect(widget.part("input")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(widget.panel).to_be_hidden()
        await expect(widget.launcher).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(widget.panel).to_be_visible()
        # The page's handle on it: initOpenScript's return value and window.deskpilot.
        await page.evaluate("window.chat.close()")
        await expect(widget.panel).to_be_hidden()
        await page.evaluate("window.deskpilot.open()")
        await expect(widget.panel).to_be_visible()
        await page.evaluate("window.chat.destroy()")
        await expect(page.locator(WIDGET)).to_have_count(0)

    async def test_aggressive_host_css_does_not_break_the_widget(self, shop: Shop) -> None:
        css = (
            "* { all: unset !important; }"
            " div, section, button, textarea, form { display: none !important; }"
            " body { font-size: 40px !important; color: red !important;"
            " line-height: 0 !important; visibility: hidden !important; }"
            f" {WIDGET} {{ display: none !important; opacity: 0.2; }}"
        )
        widget = await shop.widget(
            css=css, body="<div><p>Hidden content</p></div>", path="/hostile.html", opened=False
        )
        await expect(widget.launcher).to_be_visible()
        box = await widget.launcher.bounding_box()
        assert box is not None and 50 <= box["width"] <= 60 and 50 <= box["height"] <= 60
        await widget.open()
        panel = await widget.panel.bounding_box()
        assert panel is not None and panel["width"] >= 300 and panel["height"] >= 300
        font_size = await widget.part("input").evaluate("el => getComputedStyle(el).fontSize")
        assert font_size == "14px"
        reply = await widget.ask(RETURNS)
        await expect(reply).to_contain_text("30 days")


class TestConversation:
    async def test_a_question_gets_the_answer_with_its_source_link(self, shop: Shop) -> None:
        widget = await shop.widget()
        reply = await widget.ask(RETURNS)
        await expect(reply).to_contain_text("30 days")
        source = reply.locator("[data-testid=source-link]")
        await expect(source).to_have_count(1)
        await expect(source).to_have_text("Returns and refunds")
        href = await source.get_attribute("href")
        assert href is not None and href.endswith("/help/returns.html")
        await expect(source).to_have_attribute("target", "_blank")
        await expect(source).to_have_attribute("rel", "noopener noreferrer")
        # The visitor's message was sent once, and is the server's copy now.
        await expect(widget.messages("user")).to_have_count(1)
        await expect(widget.messages("user")).to_have_attribute("data-id", ANY)

    async def test_asking_for_a_human_shows_the_handoff_state(self, shop: Shop) -> None:
        widget = await shop.widget()
        await expect(widget.part("handoff")).to_be_hidden()
        await widget.ask(RETURNS)
        await widget.send("I want to talk to a human please")
        banner = widget.part("handoff")
        await expect(banner).to_be_visible(timeout=30_000)
        await expect(banner).to_have_text("Connecting you to a human…")
        await expect(banner).to_have_attribute("data-state", "handoff")

    async def test_a_human_agents_message_appears_within_a_second(self, shop: Shop) -> None:
        widget = await shop.conversation()
        session_id = await shop.session_id()

        started = time.monotonic()
        await agent_says(shop.deployment, session_id, "Hi, Grace here. Your refund is on its way.")
        message = widget.messages("agent").filter(has_text="Grace here")
        await expect(message).to_be_visible(timeout=5_000)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"the agent's message took {elapsed:.2f} s"
        await expect(message.locator("[data-testid=sender]")).to_contain_text("Grace")
        await expect(widget.part("handoff")).to_have_attribute("data-state", "joined")
        await expect(widget.part("handoff")).to_have_text("Grace has joined the conversation")
        await expect(widget.part("title")).to_have_text("Grace")

    async def test_a_reload_keeps_the_conversation(self, page: Page, shop: Shop) -> None:
        widget = await shop.conversation()
        await widget.ask("How long does standard delivery take?")
        before = await widget.messages().all_inner_texts()
        ids = await widget.messages().evaluate_all("els => els.map(el => el.dataset.id)")
        assert len(before) == 4 and len(set(ids)) == 4

        await page.reload()
        await widget.open()
        await expect(widget.messages()).to_have_count(4)
        assert await widget.messages().all_inner_texts() == before
        again = await widget.messages().evaluate_all("els => els.map(el => el.dataset.id)")
        assert again == ids
        # And it goes on in the same session.
        reply = await widget.ask("Is shipping free?")
        await expect(reply).to_contain_text("50 EUR")
        await expect(widget.messages()).to_have_count(6)

    async def test_a_message_sent_while_the_stream_is_down_arrives_once(
        self, page: Page, context: BrowserContext, shop: Shop
    ) -> None:
        widget = await shop.conversation()
        session_id = await shop.session_id()
        # The network drops: the open stream dies with it.
        await page.route("**/backend/widget/v2/**", lambda route: route.abort())
        await page.evaluate("window.dispatchEvent(new Event('offline'))")
        await context.set_offline(True)
        await agent_says(shop.deployment, session_id, "Sent while you were away.")
        await page.wait_for_timeout(500)
        await context.set_offline(False)
        await page.unroute("**/backend/widget/v2/**")
        await page.evaluate("window.dispatchEvent(new Event('online'))")
        arrived = widget.messages("agent").filter(has_text="Sent while you were away.")
        await expect(arrived).to_have_count(1, timeout=10_000)
        await agent_says(shop.deployment, session_id, "And this one came live.")
        await expect(widget.messages("agent")).to_have_count(2, timeout=10_000)
        await page.wait_for_timeout(300)
        await expect(arrived).to_have_count(1)


class TestEscaping:
    async def test_markup_in_any_message_renders_as_text(
        self, page: Page, shop: Shop, problems: Problems
    ) -> None:
        widget = await shop.widget({"initialMessages": [f"Hello {MARKUP}"]})
        reply = await widget.ask("What do gift card codes look like?")
        await expect(reply).to_contain_text('<b id="ai-injected">GIFT-1234</b>')
        await widget.send(MARKUP)
        await expect(widget.messages("user").nth(1)).to_have_attribute("data-id", ANY)
        session_id = await shop.session_id()
        await agent_says(shop.deployment, session_id, f"Agent says {MARKUP}")
        await expect(widget.messages("agent")).to_contain_text(f"Agent says {MARKUP}")

        await expect(widget.messages("user").nth(1).locator(".bubble")).to_have_text(MARKUP)
        await expect(widget.messages("ai").first).to_contain_text(f"Hello {MARKUP}")
        for selector in ("#injected", "#ai-injected", "img[src=x]", "script", "b"):
            await expect(page.locator(f"{WIDGET} {selector}")).to_have_count(0)
        assert await page.evaluate("window.__xss") is None
        # The greeting, stored with the first message, is the same text after a reload.
        await page.reload()
        await widget.open()
        await expect(widget.messages("ai").first).to_contain_text(f"Hello {MARKUP}")
        await expect(page.locator(f"{WIDGET} #injected")).to_have_count(0)
        assert await page.evaluate("window.__xss") is None
        assert problems.dialogs == []


class TestIsolation:
    async def test_a_second_widget_token_sees_none_of_the_firsts_sessions(
        self, context: BrowserContext, page: Page, shop: Shop
    ) -> None:
        deployment = shop.deployment
        first = await shop.conversation()

        # Same browser, same site, another org's widget.
        async with watched_tab(context) as other_page:
            second = await open_host_page(
                other_page,
                shop.host_site,
                deployment,
                {"token": deployment.other.widget_token},
                path="/other.html",
            )
            await second.open()
            await expect(second.part("title")).to_have_text("Other shop")
            await expect(second.messages()).to_have_count(0)
            await second.send("Hello from the other widget")
            await expect(second.messages("user")).to_have_attribute("data-id", ANY)
            await second.part("back").click()
            conversations = second.part("conversation")
            await expect(conversations).to_have_count(1)
            ours = await second.session_id(deployment.other.widget_token)
            await expect(conversations).to_have_attribute("data-session-id", ours)
            assert ours != await first.session_id(deployment.shop.widget_token)
            listed = await second.part("conversation-list").inner_text()
            assert "30 days" not in listed and "return" not in listed

            stored = await other_page.evaluate("Object.keys(localStorage).sort()")
            assert stored == sorted(
                f"deskpilot:v1:{token}"
                for token in (deployment.shop.widget_token, deployment.other.widget_token)
            )
            # The first org's contact token, sent with the second org's widget token: refused.
            first_contact = await page.evaluate(
                "key => JSON.parse(localStorage.getItem(key)).c",
                f"deskpilot:v1:{deployment.shop.widget_token}",
            )
            async with httpx.AsyncClient(base_url=deployment.base) as http:
                response = await http.get(
                    "/backend/widget/v2/sessions",
                    headers={
                        "X-Bot-Token": deployment.other.widget_token,
                        "Authorization": f"Bearer {first_contact}",
                    },
                )
            assert response.status_code == 401


class TestOptions:
    async def test_language_fr_shows_french_ui_strings(self, page: Page, shop: Shop) -> None:
        widget = await shop.widget({"language": "fr"}, opened=False)
        await expect(widget.launcher).to_have_attribute("aria-label", "Ouvrir le chat")
        await widget.open()
        await expect(widget.part("input")).to_have_attribute(
            "placeholder", "Écrivez votre message…"
        )
        await expect(widget.part("close")).to_have_attribute("aria-label", "Fermer le chat")
        await expect(page.locator(f"{WIDGET} .dp")).to_have_attribute("lang", "fr")

    async def test_inline_mode_renders_in_its_container(self, page: Page, shop: Shop) -> None:
        widget = await shop.widget(
            {"inline": "#chat"},
            css="#chat { width: 500px; height: 600px; }",
            body='<div id="chat"></div>',
            path="/inline.html",
            opened=False,
        )
        host = page.locator(f"#chat > {WIDGET}")
        await expect(host).to_have_count(1)
        await expect(widget.launcher).to_have_count(0)
        await expect(widget.part("close")).to_have_count(0)
        await expect(widget.panel).to_be_visible()
        box = await widget.panel.bounding_box()
        assert box is not None and abs(box["width"] - 500) <= 2
        reply = await widget.ask(RETURNS)
        await expect(reply).to_contain_text("30 days")
        await page.keyboard.press("Escape")
        await expect(widget.panel).to_be_visible()

    async def test_initial_questions_from_the_org_are_clickable(self, shop: Shop) -> None:
        widget = await shop.widget({"initialQuestions": [RETURNS], "botName": "Juniper"})
        await expect(widget.part("title")).to_have_text("Juniper")
        question = widget.part("initial-question")
        await expect(question).to_have_count(1)
        await question.click()
        await expect(widget.messages("user").locator(".bubble")).to_have_text(RETURNS)
        await expect(widget.messages("ai")).to_contain_text("30 days", timeout=30_000)
        await expect(widget.part("initial-question")).to_be_hidden()


class TestResolve:
    async def test_mark_as_resolved_then_rate_the_conversation(self, shop: Shop) -> None:
        widget = await shop.widget()
        await expect(widget.part("resolve")).to_be_hidden()
        await widget.ask(RETURNS)
        await widget.part("resolve").click()
        await expect(widget.part("closed")).to_be_visible()
        await expect(widget.part("composer")).to_be_hidden()
        await widget.part("csat-4").click()
        await widget.part("csat-feedback").fill("Quick and clear")
        await widget.part("csat-submit").click()
        await expect(widget.part("csat-thanks")).to_be_visible()
        events = await shop.history(await shop.session_id())
        rated = [e for e in events if e["type"] == "csat_submitted"]
        assert len(rated) == 1 and rated[0]["context"]["score"] == 4
        await widget.part("start-new").click()
        await expect(widget.messages()).to_have_count(0)
        await expect(widget.part("composer")).to_be_visible()


class TestClosedWidget:
    async def test_unread_badge_counts_replies_while_closed(self, shop: Shop) -> None:
        widget = await shop.conversation()
        await widget.part("close").click()
        badge = widget.part("unread-badge")
        await expect(badge).to_be_hidden()
        session_id = await shop.session_id()
        await agent_says(shop.deployment, session_id, "Anything else?")
        await agent_says(shop.deployment, session_id, "I am here if you need me.")
        await expect(badge).to_have_text("2")
        await expect(widget.launcher).to_have_attribute(
            "aria-label", "Open chat (2 unread messages)"
        )
        await widget.open()
        await expect(badge).to_be_hidden()
        await expect(widget.messages("agent")).to_have_count(2)


class TestVisitor:
    async def test_the_name_and_email_form_comes_before_the_first_chat(self, shop: Shop) -> None:
        widget = await shop.widget({"collectUserData": True}, opened=False)
        await widget.launcher.click()
        form = widget.part("contact-form")
        await expect(form).to_be_visible()
        await expect(widget.part("composer")).to_be_hidden()
        await widget.part("form-name").fill("Ada Lovelace")
        await widget.part("form-email").fill("ada@example.com")
        await widget.part("form-submit").click()
        await expect(form).to_be_hidden()
        await widget.ask(RETURNS)
        response = await shop.get(f"/chat/sessions/{await shop.session_id()}")
        contact = response.json()["contact"]
        assert contact["non_verified_name"] == "Ada Lovelace"
        assert contact["non_verified_email"] == "ada@example.com"
        assert contact["name"] is None  # what a visitor says about themselves is unverified

    async def test_a_verified_user_finds_the_conversation_on_another_device(
        self, browser: Browser, shop: Shop
    ) -> None:
        async with httpx.AsyncClient(base_url=shop.deployment.base) as http:
            minted = await http.post(
                "/widget/authenticate-user",
                json={"email": "grace@example.com", "name": "Grace Hopper"},
                headers=shop.deployment.shop.headers,
            )
        assert minted.status_code == 201, minted.text
        widget = await shop.widget(
            {"user": {"token": minted.json()["token"]}}, path="/account.html"
        )
        await widget.ask(RETURNS)

        async with watched_tab(browser) as laptop:
            await laptop.goto(shop.host_site.base + "/account.html")
            elsewhere = Widget(laptop)
            await elsewhere.open()
            # The stored session is per browser; the verified contact's sessions are not.
            await expect(elsewhere.messages()).to_have_count(0)
            await elsewhere.part("back").click()
            await expect(elsewhere.part("conversation")).to_have_count(1)
            await elsewhere.part("conversation").click()
            await expect(elsewhere.messages("ai")).to_contain_text("30 days")

    async def test_a_file_is_uploaded_and_sent_with_the_message(self, shop: Shop) -> None:
        widget = await shop.widget()
        await widget.part("file-input").set_input_files(
            {"name": "order.txt", "mimeType": "text/plain", "buffer": b"order 1234"}
        )
        await expect(widget.part("attachment-name")).to_have_text("📎 order.txt")
        await widget.send("My order receipt")
        sent = widget.messages("user").last
        await expect(sent).to_have_attribute("data-id", ANY)
        messages = [
            event
            for event in await shop.history(await shop.session_id())
            if event["type"] == "message" and event["sender"]["type"] == "contact"
        ]
        assert messages[0]["content"]["text"] == "My order receipt"
        assert [a["name"] for a in messages[0]["attachments"]] == ["order.txt"]
        stored = await shop.get(messages[0]["attachments"][0]["url"])
        assert stored.content == b"order 1234"
        await expect(sent.locator("[data-testid=attachment-link]")).to_have_text("📎 order.txt")

    async def test_a_phone_sized_screen_gets_the_whole_screen(self, page: Page, shop: Shop) -> None:
        await page.set_viewport_size({"width": 390, "height": 780})
        widget = await shop.widget()
        assert await widget.panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 780}
        await expect(widget.launcher).to_be_hidden()
        await widget.part("close").click()
        await expect(widget.launcher).to_be_visible()


class TestOrgSettings:
    async def test_the_orgs_greeting_questions_and_name_come_from_the_prelude(
        self, page: Page, shop: Shop
    ) -> None:
        async with httpx.AsyncClient(base_url=shop.deployment.base) as http:
            org = await make_org(http, shop.deployment.shop.partner, name="Settings shop")
            response = await http.patch(
                "/widget-settings",
                json={
                    "initial_questions": ["Where is my order?", "Can I change my address?"],
                    "initial_messages": ["Hi! I am Pip."],
                    "bot_name": "Pip",
                    "primary_color": "#0f766e",
                },
                headers=org.headers,
            )
            assert response.status_code == 200, response.text
        widget = await shop.widget({"token": org.widget_token}, path="/settings.html")
        await expect(widget.part("title")).to_have_text("Pip")
        await expect(widget.messages("ai").locator(".bubble")).to_have_text("Hi! I am Pip.")
        questions = widget.part("initial-question")
        await expect(questions).to_have_text(["Where is my order?", "Can I change my address?"])
        color = await widget.launcher.evaluate("el => getComputedStyle(el).backgroundColor")
        assert color == "rgb(15, 118, 110)"
        await questions.nth(1).click()
        await expect(widget.messages("user").locator(".bubble")).to_have_text(
            "Can I change my address?"
        )
        await expect(widget.messages("user")).to_have_attribute("data-id", ANY)
        await expect(questions.first).to_be_hidden()
        # The greeting was stored before the first message, once.
        await page.reload()
        await widget.open()
        await expect(widget.messages("ai").first.locator(".bubble")).to_have_text("Hi! I am Pip.")
        await expect(widget.messages("user")).to_have_count(1)
