"""The partner console in a real browser against a real `deskpilot serve`: a console link
from the Partner API lands a partner's admin on the console under the partner's branding,
a search narrows the orgs, and "Open" takes them into that org's inbox as its admin, all
without a console error (CSP)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from tests.dashboard._browser import ACCENT, Deployment, deploy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def deployment(
    migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    async with deploy(migrated, tmp_path_factory) as running:
        yield running


async def test_a_console_link_leads_to_the_console_and_into_an_orgs_inbox(
    page: Page, deployment: Deployment
) -> None:
    created = await deployment.http.post(
        "/partner/v1/console-links",
        json={"email": "pat@acme.example", "name": "Pat"},
        headers=deployment.shop.partner.headers,
    )
    assert created.status_code == 201, created.text

    await page.goto(created.json()["url"])
    await expect(page).to_have_url(f"{deployment.base}/partner-console")
    await expect(page).to_have_title("Organizations · Acme Help")
    await expect(page.locator(".app-name")).to_have_text("Acme Help")
    await expect(page.locator(".org-name")).to_have_text("Partner console")
    await expect(page.locator("footer")).to_contain_text("help@acme.example")
    accent = await page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == ACCENT
    orgs = page.locator("[data-testid=org]")
    await expect(orgs).to_have_count(2)
    outdoor = orgs.filter(has_text="Acme Outdoor")
    # Created just now, no conversation yet; its owner signed up when it was deployed.
    await expect(outdoor.locator("[data-testid=org-health]")).to_have_text("New")
    await expect(outdoor.locator("[data-testid=org-users]")).to_have_text("1")

    await page.get_by_test_id("org-search").fill("outdoor")
    await page.get_by_role("button", name="Search").click()
    await expect(page).to_have_url(re.compile(r"/partner-console\?q=outdoor$"))
    await expect(orgs).to_have_count(1)

    await orgs.get_by_role("button", name="Open Acme Outdoor").click()
    await expect(page).to_have_url(f"{deployment.base}/inbox")
    await expect(page).to_have_title("Inbox · Acme Help")
    await expect(page.locator(".org-name")).to_have_text("Acme Outdoor")
    await expect(page.locator("[data-testid=account]")).to_contain_text("Pat · admin")
    # An admin's navigation: the admin-only pages are offered.
    await expect(page.get_by_role("link", name="Team", exact=True)).to_be_visible()

    # Back in the console (its session is still open): the org's page lists Pat as admin.
    await page.goto(f"{deployment.base}/partner-console/orgs/{deployment.shop.id}")
    await expect(page.locator("[data-testid=org-title]")).to_contain_text("Acme Outdoor")
    members = page.locator("[data-testid=member]")
    await expect(members).to_have_count(2)
    await expect(members.filter(has_text="pat@acme.example")).to_contain_text("admin")
