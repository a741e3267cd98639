"""Crawler test harness: real HTTP servers on loopback serving pages each test declares, a
crawler tuned for speed (no politeness delay, quick backoff), and a helper that runs a crawl
to the end."""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from deskpilot.crawler import (
    Crawler,
    CrawlerOptions,
    CrawlSpec,
    CrawlSummary,
    KnownPage,
    PageResult,
)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Sent in pieces, without Content-Length (chunked), to exercise the streamed size cap.
    chunked: bool = False


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


Handler = Callable[[Request], Response]


def html_page(title: str, body: str, *, head: str = "", lang: str = "en") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{title}</title>{head}</head><body>{body}</body></html>"
    )


class Site:
    """A real HTTP/1.1 server on a loopback address, serving the routes a test adds and
    recording every request it receives."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                with site._lock:
                    site.requests.append(request)
                    handler = site.routes.get(self.path)
                response = handler(request) if handler else Response(404, b"not found")
                if response.delay:
                    time.sleep(response.delay)
                # The crawler may hang up first (cancellation, size cap): not an error.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(response)

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(response.body), 16384):
                        piece = response.body[start : start + 16384]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def add(
        self,
        path: str,
        body: str | bytes = "",
        *,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        chunked: bool = False,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type, **(headers or {})}
        response = Response(status, data, all_headers, delay, chunked)
        self.routes[path] = lambda _request: response

    def page(self, path: str, title: str, body: str, **kwargs: Any) -> None:
        self.add(path, html_page(title, body), **kwargs)

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        self.add(path, b"", status=status, headers={"Location": location})

    def sitemap(
        self, path: str, urls: Iterable[str], *, index: bool = False, gz: bool = False
    ) -> None:
        tag, item = ("sitemapindex", "sitemap") if index else ("urlset", "url")
        entries = "".join(f"<{item}><loc>{u}</loc></{item}>" for u in urls)
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<{tag} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</{tag}>'
        ).encode()
        if gz:
            self.add(path, gzip.compress(xml), content_type="application/gzip")
        else:
            self.add(path, xml, content_type="application/xml")

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def hits(self, path: str) -> int:
        return self.paths().count(path)

    def last(self, path: str) -> Request:
        with self._lock:
            return [r for r in self.requests if r.path == path][-1]


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def other_site(site: Site) -> Iterator[Site]:
    """A second server on another loopback address (127.0.0.2), same port as `site`: a
    stand-in for an internal host that only a redirect or a rebinding name could reach."""
    server = Site("127.0.0.2", site.port)
    server.start()
    yield server
    server.stop()


def fast_options(**overrides: Any) -> CrawlerOptions:
    values: dict[str, Any] = {
        "allow_private_networks": True,
        "concurrency": 4,
        "per_host_concurrency": 4,
        "politeness_delay_seconds": 0.0,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 2.0,
        "request_timeout_seconds": 5.0,
        "max_retries": 2,
        "retry_backoff_seconds": 0.02,
        "retry_backoff_max_seconds": 0.1,
    }
    values.update(overrides)
    return CrawlerOptions(**values)


def loopback_only(**overrides: Any) -> CrawlerOptions:
    """Private networks refused, except 127.0.0.1 itself: the test server stands in for a
    public site while every other loopback address stays forbidden."""
    return fast_options(
        allow_private_networks=False,
        allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
        **overrides,
    )


@pytest.fixture
async def crawler() -> AsyncIterator[Crawler]:
    async with Crawler(fast_options()) as instance:
        yield instance


async def crawl_all(
    crawler: Crawler,
    start_url: str,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    page_limit: int = 100,
    known: Iterable[KnownPage] = (),
    pending: Iterable[str] = (),
    done: Iterable[str] = (),
) -> tuple[list[PageResult], CrawlSummary]:
    spec = CrawlSpec(start_url, tuple(include), tuple(exclude), page_limit)
    results: list[PageResult] = []
    async with crawler.crawl(spec, known=known, pending=pending, done=done) as run:
        async for result in run:
            results.append(result)
    assert run.summary is not None
    return results, run.summary


def by_url(results: Iterable[PageResult]) -> dict[str, PageResult]:
    mapping: dict[str, PageResult] = {}
    for result in results:
        assert result.url not in mapping, f"two results for {result.url}"
        mapping[result.url] = result
    return mapping
