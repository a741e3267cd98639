"""The widget's send → reply latency in a real browser: a fresh org whose knowledge is a
small support site crawled from 127.0.0.1, a `deskpilot serve` (offline responder, SQLite),
the widget embedded in a page of another local origin, and headless Chromium (Debian's)
sending N messages one after another. Prints p50/p95 of the time from pressing send to the
AI's reply being in the widget's DOM (measured inside the page), and widget.js's size.

    .venv/bin/python bench/widget_latency.py [--messages 50]

Loopback only; bounded by --timeout (default 300 s) overall.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.partner import service as partner_service
from deskpilot.partner.schemas import Branding
from deskpilot.widget.assets import STATIC_DIR

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {
    "shipping": (
        "Shipping and delivery",
        "Orders ship from our warehouse within one business day. Standard delivery takes 3 to"
        " 5 business days; express delivery takes 1 to 2 business days. Shipping is free for"
        " orders over 50 EUR; below that, standard shipping costs 4.90 EUR.",
    ),
    "returns": (
        "Returns and refunds",
        "You can return any unused item within 30 days of delivery. Print the return label"
        " from your order page. Refunds are paid to the original payment method within 14"
        " days after the parcel reaches our warehouse.",
    ),
    "account": (
        "Your account",
        "To reset your password, open the sign-in page and choose Forgot password. We email"
        " you a link that is valid for one hour.",
    ),
    "care": (
        "Caring for your tent",
        "Clean the tent with lukewarm water and a soft sponge; never use a washing machine."
        " Dry it fully before storing it.",
    ),
}
QUESTIONS = [
    "How long do I have to return an item?",
    "How long does standard delivery take?",
    "Is shipping free?",
    "How do I reset my password?",
    "How should I clean my tent?",
    "When is my refund paid?",
    "How fast is express delivery?",
    "How long is the password reset link valid?",
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def page_html(title: str, body: str) -> str:
    links = "".join(f'<li><a href="/help/{name}.html">{name}</a></li>' for name in PAGES)
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
        f"<nav><ul>{links}</ul></nav><main><h1>{title}</h1><p>{body}</p></main></body></html>"
    )


@contextmanager
def static_site(pages: dict[str, str]) -> Iterator[str]:
    """Serves `pages` (path → HTML) on loopback; the support site and the host page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = pages.get(self.path.split("?", 1)[0])
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            data = body.encode()
            kind = "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def deskpilot_server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(BIN / "deskpilot"), "serve", "--port", str(port)],
        env={**env, "PUBLIC_URL": base},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("deskpilot serve exited early")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("deskpilot serve did not start within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def make_partner_key(settings: Settings) -> str:
    engine = database.create_engine(settings)
    try:
        async with database.transaction(database.create_sessionmaker(engine)) as session:
            created = await partner_service.create_partner(
                session, name="Bench", allow_list=[], branding=Branding()
            )
        return created.api_key
    finally:
        await engine.dispose()


async def prepare_org(base: str, partner_key: str, site: str) -> str:
    """An org with the support site crawled into its knowledge; its widget token."""
    partner = {"Authorization": f"Bearer {partner_key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        org = (await http.post("/partner/v1/orgs", json={"name": "Acme"}, headers=partner)).json()
        key = await http.post(
            f"/partner/v1/orgs/{org['id']}/api-keys", json={"name": "bench"}, headers=partner
        )
        headers = {"Authorization": f"Bearer {key.json()['api_key']}"}
        created = await http.post("/crawl", json={"url": f"{site}/help/"}, headers=headers)
        created.raise_for_status()
        datasource = created.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            jobs = (await http.get(f"/crawl/{datasource}/crawls", headers=headers)).json()
            if jobs["items"] and jobs["items"][0]["status"] == "completed":
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"crawl did not finish: {jobs}")
            await asyncio.sleep(0.2)
    token: str = org["widget_token"]
    return token


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure(base: str, host: str, pages: dict[str, str], token: str, count: int) -> None:
    options = json.dumps({"token": token}).replace("<", "\\u003c")
    pages["/shop.html"] = (
        "<!doctype html><html><head><link rel='icon' href='data:,'></head><body>"
        f"<h1>Shop</h1><script src='{base}/widget.js'></script>"
        f"<script>initOpenScript({options})</script></body></html>"
    )
    firsts: list[float] = []
    timings: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        page = await browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(f"{host}/shop.html")
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


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="deskpilot-widget-bench-") as tmp:
        data_dir = Path(tmp)
        database_url = f"sqlite:///{data_dir / 'bench.db'}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DESKPILOT_", "DATABASE_", "REDIS_", "RATE_LIMIT_", "LLM_"))
        }
        env.update(
            {
                "DATABASE_URL": database_url,
                "DATA_DIR": str(data_dir),
                "SECRET_KEY": "bench-" + "s" * 40,
                "ENVIRONMENT": "test",
                "LOG_LEVEL": "WARNING",
                "CRAWLER_ALLOW_PRIVATE_NETWORKS": "true",
                "CRAWLER_POLITENESS_DELAY_SECONDS": "0",
                "JOBS_SCHEDULER_INTERVAL_SECONDS": "3600",
                # 50 messages from one visitor in a minute: over the per-contact send limit.
                "RATE_LIMIT_ENABLED": "false",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATABASE_URL=database_url,
            DATA_DIR=data_dir,
            SECRET_KEY=env["SECRET_KEY"],
            ENVIRONMENT="test",
            LOG_LEVEL="WARNING",
        )
        database.upgrade(settings)
        partner_key = await make_partner_key(settings)
        pages = {f"/help/{name}.html": page_html(*text) for name, text in PAGES.items()}
        pages["/help/"] = page_html("Help centre", "Answers about your orders.")
        pages["/robots.txt"] = "User-agent: *\nAllow: /\n"
        with static_site(pages) as site, deskpilot_server(env) as base:
            started = time.monotonic()
            token = await prepare_org(base, partner_key, site)
            print(f"org ready           {time.monotonic() - started:.1f} s (crawl + index)")
            await measure(base, site, pages, token, args.messages)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run")
    arguments = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(arguments), arguments.timeout))
