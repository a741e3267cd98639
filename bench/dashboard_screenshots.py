"""Screenshots of the dashboard, so anyone can look at it without installing anything:
the inbox, a conversation with the AI's debug panel open, the test console and the reports
page (over a month of conversations: see _report_data.py).

Starts a `deskpilot serve` on the embedded defaults, gives its org a small help site as
knowledge, lets a few visitors talk to the AI through the widget API (answers with sources,
a handoff), signs in through a login link and photographs the pages with Debian's headless
Chromium (never Playwright's own browser download). Writes PNGs under bench/out/.

    .venv/bin/python bench/dashboard_screenshots.py [--out bench/out]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from pathlib import Path

import httpx
from _live import Live, Org, crawl, help_site, live_server
from _report_data import seed_reports
from playwright.async_api import Page, async_playwright

WIDGET = "/backend/widget/v2"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VISITORS = [
    ("Maya Lindqvist", ["How long does standard delivery take?", "Is shipping free?"]),
    ("Jonas Berg", ["How do I return an item?"]),
    ("Priya Natarajan", ["Which payment methods do you accept?"]),
    ("Tom Okafor", ["My parcel is damaged, I want to talk to a person."]),
    ("Lena Fischer", ["When will I get my refund?"]),
]


def provision(live: Live) -> tuple[Org, dict[str, str]]:
    """A branded partner (operator CLI), its org and an org API key."""
    partner = json.loads(
        live.cli(
            "partner",
            "create",
            "--name",
            "Acme Platform",
            "--app-name",
            "Acme Help",
            "--support-email",
            "help@acme.example",
            "--primary-color",
            "#0f766e",
        )
    )
    headers = {"Authorization": f"Bearer {partner['api_key']}"}
    org = httpx.post(f"{live.base}/partner/v1/orgs", json={"name": "Acme Outdoor"}, headers=headers)
    org.raise_for_status()
    key = httpx.post(
        f"{live.base}/partner/v1/orgs/{org.json()['id']}/api-keys",
        json={"name": "screenshots"},
        headers=headers,
    )
    key.raise_for_status()
    return Org(org.json()["id"], org.json()["widget_token"], key.json()["api_key"]), headers


async def converse(live: Live, org: Org) -> str:
    """The visitors' conversations; returns the first one's id (answered with sources)."""
    first = ""
    async with httpx.AsyncClient(base_url=live.base + WIDGET, timeout=90) as http:
        for name, questions in VISITORS:
            bot = {"X-Bot-Token": org.widget_token}
            contact = await http.post(
                "/contact/create-unverified", json={"non_verified_name": name}, headers=bot
            )
            contact.raise_for_status()
            headers = {**bot, "Authorization": f"Bearer {contact.json()['token']}"}
            session = await http.post("/create-session", json={}, headers=headers)
            session.raise_for_status()
            session_id = session.json()["id"]
            first = first or session_id
            for question in questions:
                sent = await http.post(
                    "/chat/send",
                    json={
                        "uuid": str(uuid.uuid4()),
                        "content": question,
                        "session_id": session_id,
                        "bot_token": org.widget_token,
                    },
                    headers=headers,
                )
                sent.raise_for_status()
    return first


async def photograph(
    live: Live, org: Org, partner: dict[str, str], session_id: str, out: Path
) -> None:
    link = httpx.post(
        f"{live.base}/partner/v1/orgs/{org.id}/login-links",
        json={"email": "sam@acme.example", "name": "Sam Rivera", "redirect_path": "/inbox"},
        headers=partner,
    )
    link.raise_for_status()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page: Page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await page.goto(link.json()["url"])
        await page.wait_for_selector("[data-testid=conversations]")
        await page.screenshot(path=str(out / "dashboard-inbox.png"))

        await page.goto(f"{live.base}/inbox/{session_id}")
        panel = page.locator("[data-kind=ai] [data-testid=debug]").last
        await panel.locator("> summary").click()
        await panel.scroll_into_view_if_needed()
        await page.screenshot(path=str(out / "dashboard-conversation-debug.png"))

        await page.goto(f"{live.base}/console")
        await page.locator("[data-testid=console-question]").fill("Is shipping free?")
        await page.locator("[data-testid=console-ask]").click()
        await page.wait_for_selector("[data-testid=console-result]")
        await page.screenshot(path=str(out / "dashboard-console.png"), full_page=True)

        await page.goto(f"{live.base}/reports?days=30")
        await page.wait_for_selector("[data-testid=chart-conversations]")
        await page.screenshot(path=str(out / "dashboard-reports.png"), full_page=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with live_server(RATE_LIMIT_ENABLED="false") as live:
        org, partner = provision(live)
        with help_site() as url:
            crawl(live, org, url)
        seed_reports(live, org)
        session_id = asyncio.run(converse(live, org))
        asyncio.run(photograph(live, org, partner, session_id, args.out))
    for name in (
        "dashboard-inbox",
        "dashboard-conversation-debug",
        "dashboard-console",
        "dashboard-reports",
    ):
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
