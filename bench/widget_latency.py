"""The widget's send → reply latency in a real browser: a fresh org whose knowledge is the
benchmarks' small help site (bench/_live.py) crawled from 127.0.0.1, a `deskpilot serve`
(offline responder, SQLite), the widget embedded in a page of another local origin, and
headless Chromium (Debian's) sending N messages one after another. Prints p50/p95 of the
time from pressing send to the AI's reply being in the widget's DOM (measured inside the
page), and widget.js's size.

    .venv/bin/python bench/widget_latency.py [--messages 50]

Loopback only; bounded by --timeout (default 300 s) overall.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import time

from _live import QUESTIONS, crawl, help_site, live_server, provision
from playwright.async_api import async_playwright

from deskpilot.widget.assets import STATIC_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Runs inside the page: types, presses send, and resolves with two times (ms): the first
# text of the reply on screen (the streamed draft, or the stored message if no draft came),
# and the stored reply in the message log.
MEASURE = """async (text) => {
  const root = document.querySelector("deskpilot-widget").shadowRoot;
  const scroll = root.querySelector(".scroll");
  const log = root.querySelector("[data-testid=messages]");
  const draft = root.querySelector("[data-testid=draft]");
  const before = log.querySelectorAll("[data-kind=ai]").length;
  root.querySelector("[data-testid=input]").value = text;
  return await new Promise((resolve, reject) => {
    const started = performance.now();
    let first = null;
    const observer = new MutationObserver(() => {
      const stored = log.querySelectorAll("[data-kind=ai]").length > before;
      if (first === null && (stored || !draft.hidden)) first = performance.now() - started;
      if (stored) {
        observer.disconnect();
        resolve([first, performance.now() - started]);
      }
    });
    observer.observe(scroll, { childList: true, subtree: true, attributes: true });
    setTimeout(() => { observer.disconnect(); reject(new Error("no reply within 30 s")); }, 30000);
    root.querySelector("[data-testid=send]").click();
  });
}"""


def shop_page(base: str, token: str) -> str:
    """The customer's page embedding the widget served by `base`."""
    options = json.dumps({"token": token}).replace("<", "\\u003c")
    return (
        "<!doctype html><html><head><link rel='icon' href='data:,'></head><body>"
        f"<h1>Shop</h1><script src='{base}/widget.js'></script>"
        f"<script>initOpenScript({options})</script></body></html>"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure(shop: str, count: int) -> None:
    firsts: list[float] = []
    timings: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(shop)
        await page.locator("deskpilot-widget [data-testid=launcher]").click()
        await page.locator("deskpilot-widget [data-testid=input]").wait_for()
        for index in range(count):
            first, done = await page.evaluate(MEASURE, QUESTIONS[index % len(QUESTIONS)])
            firsts.append(float(first))
            timings.append(float(done))
        handoff = await page.locator("deskpilot-widget [data-testid=handoff]").is_visible()
        await browser.close()
    raw = (STATIC_DIR / "widget.js").read_bytes()
    print(f"messages            {len(timings)}")
    print(f"send → reply p50    {statistics.median(timings):7.1f} ms   (stored reply in the log)")
    print(f"send → reply p95    {percentile(timings, 0.95):7.1f} ms")
    print(f"send → reply min    {min(timings):7.1f} ms   max {max(timings):.1f} ms")
    print(f"first text p50      {statistics.median(firsts):7.1f} ms   (streamed draft or reply)")
    print(f"first text p95      {percentile(firsts, 0.95):7.1f} ms")
    print(f"widget.js           {len(raw)} bytes raw, {len(gzip.compress(raw, 9))} gzip")
    print(f"handed off          {handoff}   console errors {len(errors)}")


def main(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.timeout
    with live_server(
        LLM_BASE_URL="",  # the offline responder, whatever the environment says
        # 50 messages from one visitor in a minute: over the per-contact send limit.
        RATE_LIMIT_ENABLED="false",
        JOBS_SCHEDULER_INTERVAL_SECONDS="3600",
    ) as live:
        started = time.monotonic()
        org = provision(live, "Acme")
        with help_site({"shop.html": shop_page(live.base, org.widget_token)}) as help_url:
            crawl(live, org, help_url, timeout=deadline - time.monotonic())
            print(f"org ready           {time.monotonic() - started:.1f} s (crawl + index)")
            shop = help_url.removesuffix("help/") + "shop.html"
            asyncio.run(asyncio.wait_for(measure(shop, args.messages), deadline - time.monotonic()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run")
    main(parser.parse_args())
