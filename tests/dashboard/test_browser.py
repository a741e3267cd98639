"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright against
one real `deskpilot serve` for the module. Staff arrive by login links; visitors talk
through the widget API; the Org API trains the AI. Every page must keep its console free
of errors (CSP violations included), except where a test expects a refusal page."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.dashboard._browser import (
    ACCENT,
    OWNER,
    Deployment,
    deploy,
    live,
    login_link,
    sign_in,
    still_same_page,
)
from tests.widget.conftest import Browser as Visitor
from tests.widget.conftest import unverified

pytestmark = pytest.mark.slow

VOUCHERS = {
    "title": "Do you sell gift vouchers?",
    "content": "Yes: gift vouchers from 10 to 200 EUR are sold in the shop under Vouchers.",
}
# The browser, its pages and the console watch: tests/dashboard/_browser.py (via conftest).


@pytest.fixture(scope="module")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    async with deploy(migrated, tmp_path_factory) as running:
        yield running


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
        # Training is an admin's page: the org's owner writes the scenario.
        await sign_in(page, deployment, path="/console", email=OWNER)

        result = page.locator("[data-testid=console-result]")
        notice = page.locator("[data-testid=notice]")

        async def ask() -> str:
            await page.goto(f"{deployment.base}/console")
            await page.locator("[data-testid=console-question]").fill(VOUCHERS["title"])
            await page.locator("[data-testid=console-channel]").select_option("web")
            await page.locator("[data-testid=console-ask]").click()
            await expect(result).to_have_attribute(
                "data-answer-id", re.compile(r"."), timeout=30_000
            )
            return await result.locator("[data-testid=console-reply]").inner_text()

        first = await ask()
        assert "10 to 200 EUR" not in first
        # Written in the dashboard's training page and kept as a draft: no change yet.
        await page.goto(f"{deployment.base}/settings/training/new")
        await page.locator("[data-testid=training-title-input]").fill(VOUCHERS["title"])
        await page.locator("[data-testid=training-content]").fill(VOUCHERS["content"])
        await page.locator("[data-testid=channel-web]").check()
        await page.locator("[data-testid=save-draft]").click()
        await expect(notice).to_contain_text("Saved as a draft")
        await expect(page.locator("[data-testid=training-state]")).to_contain_text(
            "Draft, never published"
        )
        assert "10 to 200 EUR" not in await ask()
        # Published from the training list: the next answer uses it.
        await page.goto(f"{deployment.base}/settings/training")
        row = page.locator("[data-testid=training-row]", has_text=VOUCHERS["title"])
        await row.locator("[data-testid=publish]").click()
        await expect(notice).to_contain_text("Published")
        await expect(row.locator("[data-testid=training-state]")).to_have_text(
            "Published, version 1"
        )
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
        api = deployment.shop.headers
        entry = await deployment.http.post(
            "/training",
            json={"title": "Opening hours", "content": "We open at 9.", "is_draft": True},
            headers=api,
        )
        assert entry.status_code == 201, entry.text
        always = {"day_of_week": "everyday", "start_time": "00:00:00", "end_time": "24:00:00"}
        schedule = await deployment.http.post(
            "/office-hours",
            json={"name": "Always", "iana_timezone": "Europe/Berlin", "shifts": [always]},
            headers=api,
        )
        assert schedule.status_code == 201, schedule.text
        contacts = (await deployment.http.get("/contacts", headers=api)).json()["items"]
        settings = [
            "/settings/profile",
            "/settings/training",
            "/settings/training/new",
            f"/settings/training/{entry.json()['id']}",
            "/settings/autopilot",
            "/settings/handoff",
            "/settings/office-hours",
            f"/settings/office-hours/{schedule.json()['id']}",
            "/settings/tags",
        ]
        for path in [
            "/",
            "/inbox",
            "/inbox?view=all",
            f"/inbox/{session_id}",
            "/console",
            "/reports",
            "/team",
            *settings,
            "/knowledge",
            "/people",
            f"/people/{contacts[0]['id']}",
            "/settings/api-keys",
            "/settings/widget",
        ]:
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
