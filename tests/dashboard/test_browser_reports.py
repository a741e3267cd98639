"""The reports page in a real browser against a real `deskpilot serve`: a visitor's request
for a person, handed off by the real AI through the widget, shows up in the plots an agent
opens from the top navigation, with the same numbers as `GET /handoff-analytics`; the
period switches and the day-by-day numbers unfold, all without a console error (CSP)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from tests.dashboard._browser import Deployment, deploy, sign_in
from tests.widget.conftest import unverified

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    async with deploy(migrated, tmp_path_factory) as running:
        yield running


async def test_an_agent_reads_a_handoff_in_the_reports(page: Page, deployment: Deployment) -> None:
    visitor = await unverified(deployment.http, deployment.shop, non_verified_name="Rita")
    session_id = (await visitor.create_session())["id"]
    sent = await visitor.send(session_id, "I want to talk to a real person.")
    assert sent.get("sessionIsHandedOff") or sent.get("code") == "session_assigned_to_human_agent"

    await sign_in(page, deployment, path="/")
    await page.get_by_role("link", name="Reports", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/reports$"))
    await expect(page.locator("h1")).to_have_text("Reports")
    await expect(page.locator("[data-testid=total-handoffs]")).to_have_text("1")
    reasons = page.locator("[data-testid=chart-reasons]")
    await expect(reasons).to_be_visible()
    await expect(reasons.locator(".row")).to_have_count(1)
    await expect(reasons.locator(".row .label")).to_have_text("The contact asked for a person")
    await expect(page.locator("[data-testid=chart-conversations] .column")).to_have_count(30)

    start = await page.locator("[data-testid=period-start]").get_attribute("datetime")
    end = await page.locator("[data-testid=period-end]").get_attribute("datetime")
    api = await deployment.http.get(
        "/handoff-analytics",
        params={"start_date": start, "end_date": end},
        headers=deployment.shop.headers,
    )
    assert api.status_code == 200, api.text
    await expect(page.locator("[data-testid=handoff-summary]")).to_have_text(api.json()["summary"])

    await page.get_by_role("link", name="Last 7 days").click()
    await expect(page).to_have_url(re.compile(r"/reports\?days=7$"))
    await expect(page.locator("[data-testid=chart-conversations] .column")).to_have_count(7)
    numbers = page.locator("details.numbers")
    await numbers.locator("summary").click()
    await expect(numbers.locator("[data-testid=per-day-table] tbody tr")).to_have_count(7)
    await expect(numbers.locator("tbody tr").last).to_contain_text("1")
