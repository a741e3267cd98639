"""A live installation for the HTTP benchmarks: a `deskpilot serve` process on loopback with
its own data directory, a partner made with the operator CLI, an org with an API key, and a
small help site served on loopback and crawled into the org's knowledge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

HELP_PAGES = {
    "shipping.html": (
        "Shipping and delivery",
        "<h2>Delivery times</h2><p>Orders ship from our warehouse within one business day."
        " Standard delivery takes 3 to 5 business days; express delivery takes 1 to 2 business"
        " days.</p><h2>Shipping costs</h2><p>Shipping is free for orders over 50 EUR. Below"
        " that, standard shipping costs 4.90 EUR.</p>",
    ),
    "returns.html": (
        "Returns and refunds",
        "<h2>Returning an item</h2><p>You can return any unused item within 30 days of"
        " delivery. Print the return label from your order page and drop the parcel at any"
        " post office.</p><h2>Refunds</h2><p>Refunds are paid to the original payment method"
        " within 14 days after the parcel reaches our warehouse.</p>",
    ),
    "account.html": (
        "Your account",
        "<h2>Resetting your password</h2><p>To reset your password, open the sign-in page and"
        " choose Forgot password. We email you a link that is valid for one hour.</p>"
        "<h2>Changing your email</h2><p>Open Settings, then Profile, and enter the new address;"
        " we send a confirmation link to it.</p>",
    ),
    "payment.html": (
        "Payment methods",
        "<h2>Cards and wallets</h2><p>We accept Visa, Mastercard, American Express, PayPal and"
        " bank transfer. Your card is charged when the order ships.</p>",
    ),
}
QUESTIONS = [
    "How long does standard delivery take?",
    "Is shipping free?",
    "How do I return an item?",
    "When will I get my refund?",
    "How do I reset my password?",
    "Which payment methods do you accept?",
    "How can I change my email address?",
    "When is my card charged?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Org:
    id: str
    widget_token: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass(frozen=True)
class Live:
    base: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "deskpilot"), *args],
            env=self.env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout


@contextmanager
def live_server(database_url: str | None = None, **settings: str) -> Iterator[Live]:
    """`deskpilot serve` on the embedded defaults (SQLite unless a URL is given)."""
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as data:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "RATE_LIMIT_"))
        }
        env.update(
            {
                "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{data}/deskpilot.db",
                "DATA_DIR": data,
                "SECRET_KEY": "bench-" + "s" * 40,
                "PUBLIC_URL": base,
                "LOG_LEVEL": "WARNING",
                "CRAWLER_ALLOW_PRIVATE_NETWORKS": "true",
                "CRAWLER_POLITENESS_DELAY_SECONDS": "0",
                **settings,
            }
        )
        process = subprocess.Popen(
            [str(BIN / "deskpilot"), "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError("deskpilot serve exited during start-up")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("deskpilot serve did not start within 60 s")
                time.sleep(0.2)
            yield Live(base, env, process)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def provision(live: Live, name: str = "Bench Shop") -> Org:
    """A partner (operator CLI), an org and its API key (Partner API)."""
    partner = json.loads(live.cli("partner", "create", "--name", f"{name} Partner"))
    headers = {"Authorization": f"Bearer {partner['api_key']}"}
    org = httpx.post(f"{live.base}/partner/v1/orgs", json={"name": name}, headers=headers)
    org.raise_for_status()
    key = httpx.post(
        f"{live.base}/partner/v1/orgs/{org.json()['id']}/api-keys",
        json={"name": "bench"},
        headers=headers,
    )
    key.raise_for_status()
    return Org(org.json()["id"], org.json()["widget_token"], key.json()["api_key"])


@contextmanager
def help_site(beside: Mapping[str, str] | None = None) -> Iterator[str]:
    """The help pages on loopback; yields the start URL (`…/help/`). `beside`: more pages
    (file name → HTML) at the site's root, which the help pages do not link to, such as a
    shop page embedding the widget."""
    with tempfile.TemporaryDirectory(prefix="deskpilot-site-") as root:
        for name, html in (beside or {}).items():
            (Path(root) / name).write_text(html)
        folder = Path(root) / "help"
        folder.mkdir()
        links = "".join(
            f'<li><a href="{page}">{title}</a></li>' for page, (title, _) in HELP_PAGES.items()
        )
        (folder / "index.html").write_text(
            f"<!doctype html><html lang=en><head><title>Help centre</title></head>"
            f"<body><main><h1>Help centre</h1><ul>{links}</ul></main></body></html>"
        )
        for page, (title, body) in HELP_PAGES.items():
            (folder / page).write_text(
                f"<!doctype html><html lang=en><head><title>{title}</title></head><body>"
                f"<nav><a href='index.html'>Help centre</a></nav><main><article><h1>{title}</h1>"
                f"{body}</article></main></body></html>"
            )
        handler = partial(_QuietHandler, directory=root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/help/"
        finally:
            server.shutdown()
            server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def crawl(live: Live, org: Org, url: str, timeout: float = 120.0) -> None:
    """Crawls `url` into the org and waits until the job has completed."""
    created = httpx.post(f"{live.base}/crawl", json={"url": url}, headers=org.headers)
    created.raise_for_status()
    datasource = created.json()["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = httpx.get(f"{live.base}/crawl/{datasource}/crawls", headers=org.headers).json()
        if jobs["items"] and jobs["items"][0]["status"] == "completed":
            return
        if jobs["items"] and jobs["items"][0]["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"crawl ended {jobs['items'][0]['status']}")
        time.sleep(0.2)
    raise RuntimeError("crawl did not finish in time")


def server_rss_mib(live: Live) -> float:
    """Resident memory of the server process, from /proc."""
    for line in Path(f"/proc/{live.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
