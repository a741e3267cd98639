"""JavaScript rendering for pages whose text a script writes: the system's headless Chromium,
driven by Playwright, loads the page while every request it makes is answered by the
crawler's own guarded HTTP client, so the browser never opens a connection of its own."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx
import structlog

from deskpilot.crawler._extract import Extraction
from deskpilot.crawler._fetch import Fetched, Fetcher, FetchError
from deskpilot.crawler._models import CrawlerOptions, CrawlStats, Reason
from deskpilot.crawler._urls import normalize_url

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright, Route, WebSocketRoute

log = structlog.get_logger()

# A page whose extracted main text is shorter than this (about two sentences, less than one
# useful chunk) while its HTML carries a script is loaded in the browser. Index pages of
# links also fall under it; their rendering is kept only when it yields more text.
RENDER_BELOW_CHARS = 200
_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Defence in depth behind the request routing: whatever a route does not answer (a
    # request type Playwright cannot intercept) finds neither a resolver (IP literals
    # included) nor a proxy, and WebRTC may not send UDP around them.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://blackhole.invalid:1",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)

# What the browser may ask for besides the page itself: the code that builds the page and
# the data it loads. Styles, images, fonts and media never change the DOM's text.
_FETCHED_TYPES = frozenset({"script", "xhr", "fetch"})
# A script that keeps asking (polling, infinite scroll) stops being answered here.
_MAX_REQUESTS = 150
# Headers the guarded client sets itself, or that would make the answer unusable to the
# browser (conditional requests, ranges) or reach past the origin (proxies).
_DROPPED_REQUEST_HEADERS = frozenset(
    {
        "host", "user-agent", "connection", "content-length", "accept-encoding", "te",
        "transfer-encoding", "upgrade", "keep-alive", "proxy-authorization",
        "proxy-connection", "range", "if-range", "if-none-match", "if-modified-since",
        "if-match", "if-unmodified-since",
    }
)  # fmt: skip
# httpx has decoded the body and knows its length; the browser must not decode it again.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
)
_ABORT_CODES = {Reason.BLOCKED_ADDRESS: "addressunreachable", Reason.TIMEOUT: "timedout"}


def text_size(extraction: Extraction) -> int:
    return sum(len(section.text) for section in extraction.page.sections)


def needs_rendering(body: bytes, extraction: Extraction) -> bool:
    """Whether an HTML page looks built by JavaScript: next to no main text, and a script
    that could write it. Pages that ask not to be indexed or that redirect are left alone."""
    if extraction.noindex or extraction.refresh_url is not None:
        return False
    return text_size(extraction) < RENDER_BELOW_CHARS and _SCRIPT.search(body) is not None


def render_unavailable(chromium_path: str) -> str | None:
    """Why pages cannot be rendered on this install, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install 'deskpilot[render]')"
    if not (os.path.isfile(chromium_path) and os.access(chromium_path, os.X_OK)):
        return f"no Chromium executable at {chromium_path} (CRAWLER_CHROMIUM_PATH)"
    return None


class _Frame(Protocol):
    @property
    def parent_frame(self) -> _Frame | None: ...


class BrowserRequest(Protocol):
    """The parts of a Playwright request the routing looks at."""

    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def frame(self) -> _Frame: ...
    def is_navigation_request(self) -> bool: ...


class PageLoad:
    """Answers the browser's requests during one page load: the page itself from the body
    the crawler already fetched, its scripts and data through the guarded fetcher (SSRF
    policy, size cap, politeness, User-Agent), and nothing else."""

    def __init__(
        self,
        fetched: Fetched,
        fetcher: Fetcher,
        *,
        allow_resource: Callable[[str], bool],
        stats: CrawlStats | None = None,
        deadline: float | None = None,
    ) -> None:
        self.fetched = fetched
        self._fetcher = fetcher
        self._allow_resource = allow_resource
        self._stats = stats
        # Event-loop time past which no request is answered: the page is read by then, and
        # a slow request must not keep a host slot of the crawl for its full timeout.
        self._deadline = deadline
        self.document_served = False
        self.requests = 0
        # (url, why) of every request refused, for the log and for tests.
        self.refused: list[tuple[str, str]] = []

    def refusal(self, request: BrowserRequest) -> str | None:
        """Why the browser may not have `request`, or None when it will be answered."""
        url = request.url
        if urlsplit(url).scheme not in ("http", "https"):
            return "not an http(s) URL"
        if request.is_navigation_request():
            if request.frame.parent_frame is not None:
                return "frames are never extracted"
            if self.document_served:
                return "navigation away from the page being rendered"
            if normalize_url(url) != self.fetched.url:
                return "not the page being rendered"
            return None
        if request.resource_type not in _FETCHED_TYPES:
            return f"{request.resource_type} is not needed for the text"
        if request.method != "GET":
            return f"{request.method} requests are never sent"
        if self.requests >= _MAX_REQUESTS:
            return f"more than {_MAX_REQUESTS} requests"
        if not self._allow_resource(url):
            return "disallowed by robots.txt"
        return None

    async def handle(self, route: Route) -> None:
        """The `context.route` handler."""
        from playwright.async_api import Error as PlaywrightError

        request = route.request
        try:
            why = self.refusal(request)
            if why is not None:
                self.refused.append((request.url, why))
                log.debug("crawler.render_refused", url=request.url, why=why)
                if request.is_navigation_request():
                    # An aborted navigation would commit Chromium's error page in place of
                    # the page; a 204 answer leaves the page where it was.
                    await route.fulfill(status=204)
                else:
                    await route.abort("blockedbyclient")
                return
            if request.is_navigation_request():
                self.document_served = True
                await self._fulfill(route, self.fetched)
                return
            self.requests += 1
            headers = {
                name: value
                for name, value in request.headers.items()
                if name.lower() not in _DROPPED_REQUEST_HEADERS
            }
            try:
                async with asyncio.timeout_at(self._deadline):
                    fetched = await self._fetcher.fetch(
                        request.url, headers=headers, stats=self._stats
                    )
            except FetchError as exc:
                self.refused.append((request.url, exc.message))
                log.debug("crawler.render_fetch_failed", url=request.url, error=exc.message)
                await route.abort(_ABORT_CODES.get(exc.reason, "failed"))
                return
            except TimeoutError:
                self.refused.append((request.url, "render timeout"))
                await route.abort("timedout")
                return
            await self._fulfill(route, fetched)
        except PlaywrightError:
            pass  # the page closed under the request (render timeout, cancelled crawl)

    @staticmethod
    async def _fulfill(route: Route, fetched: Fetched) -> None:
        await route.fulfill(
            status=fetched.status, headers=_response_headers(fetched.headers), body=fetched.body
        )


def _response_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in headers:
        if name in _DROPPED_RESPONSE_HEADERS:
            continue
        values = headers.get_list(name)
        out[name] = ("\n" if name == "set-cookie" else ", ").join(values)
    return out


async def _refuse_socket(socket: WebSocketRoute) -> None:
    # Never connected to its server: the browser sees a socket that closes at once.
    log.debug("crawler.render_refused", url=socket.url, why="WebSockets are never opened")
    await socket.close(code=1008, reason="not available to the crawler")


class Renderer:
    """Renders pages in one headless Chromium per process, launched when the first page
    needs it and closed when the last crawl using it ends; each page in a fresh context.

    A missing Chromium (warned once), a browser that fails to start or a page that will
    not load make `render` return None: the caller keeps the page as fetched.
    """

    def __init__(self, options: CrawlerOptions, fetcher: Fetcher) -> None:
        self._options = options
        self._fetcher = fetcher
        self._slots = asyncio.Semaphore(max(1, options.render_concurrency))
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._users = 0
        # Set for good when the install lacks Playwright or Chromium; for the current
        # crawls only when the browser failed to start.
        self._unavailable: str | None = None
        self._failed: str | None = None
        self.launches = 0

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Held by each crawl: the browser outlives none of them by more than a moment."""
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0:
                await self._close()

    @property
    def running(self) -> bool:
        """Whether a browser is up now."""
        return self._browser is not None

    async def aclose(self) -> None:
        await self._close()

    async def render(
        self,
        fetched: Fetched,
        *,
        allow_resource: Callable[[str], bool],
        stats: CrawlStats | None = None,
    ) -> str | None:
        """The page's HTML once its scripts have run (the network idle, or the render
        timeout reached), or None when it could not be rendered."""
        timeout = self._options.render_timeout_seconds
        async with self._slots:
            browser = await self._browser_or_none()
            if browser is None:
                return None
            from playwright.async_api import Error as PlaywrightError

            started = time.monotonic()
            load = PageLoad(
                fetched,
                self._fetcher,
                allow_resource=allow_resource,
                stats=stats,
                deadline=asyncio.get_running_loop().time() + timeout,
            )
            try:
                # The browser's own waits are bounded first; this catches anything else
                # (a wedged browser) a little later.
                async with asyncio.timeout(timeout + 5):
                    html = await self._load(browser, load, timeout)
            except (PlaywrightError, TimeoutError) as exc:
                log.warning("crawler.render_failed", url=fetched.url, error=str(exc)[:300])
                return None
            log.info(
                "crawler.rendered",
                url=fetched.url,
                seconds=round(time.monotonic() - started, 2),
                requests=load.requests,
                refused=len(load.refused),
            )
        if len(html) > self._options.max_response_bytes:
            log.warning("crawler.render_too_large", url=fetched.url, chars=len(html))
            return None
        return html

    async def _load(self, browser: Browser, load: PageLoad, timeout: float) -> str:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        deadline = time.monotonic() + timeout
        context = await browser.new_context(
            user_agent=self._options.user_agent,
            service_workers="block",
            accept_downloads=False,
        )
        try:
            await context.route("**/*", load.handle)
            await context.route_web_socket("**/*", _refuse_socket)
            page = await context.new_page()
            # Only until the page commits: a script that starts another navigation (refused
            # in `PageLoad`) would leave a wait for the page's own load events hanging.
            await page.goto(load.fetched.url, wait_until="commit", timeout=timeout * 1000)
            remaining = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(PlaywrightTimeoutError):
                # A page that keeps the network busy is read as it stands at the deadline.
                await page.wait_for_load_state("networkidle", timeout=remaining * 1000)
            if urlsplit(page.url).scheme not in ("http", "https"):
                # Chromium's error page (chrome-error://) must never be stored as the page.
                # Other documents cannot get here: every other navigation is refused.
                raise PlaywrightError(f"the browser shows {page.url[:200]}")
            return await page.content()
        finally:
            with contextlib.suppress(PlaywrightError):
                await context.close()

    async def _browser_or_none(self) -> Browser | None:
        if self._unavailable is not None or self._failed is not None:
            return None
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._unavailable is not None or self._failed is not None:
                return None
            path = self._options.chromium_path
            why = render_unavailable(path)
            if why is not None:
                self._unavailable = why
                log.warning(
                    "crawler.render_unavailable",
                    reason=why,
                    effect="CRAWLER_RENDER_JS is on but pages are crawled without rendering",
                )
                return None
            try:
                return await self._launch(path)
            except Exception as exc:
                # A browser that will not start must not stop the crawl: its pages are
                # kept as fetched, and the next crawl tries again.
                self._failed = f"Chromium failed to start: {exc!r}"[:500]
                log.warning("crawler.render_unavailable", reason=self._failed, chromium_path=path)
                await self._close_locked()
                return None

    async def _launch(self, path: str) -> Browser:
        from playwright.async_api import async_playwright

        if self._browser is not None:  # crashed: start afresh
            await self._close_locked()
        started = time.monotonic()
        self._playwright = await async_playwright().start()
        # Never Playwright's own browser download: the system's Chromium, by path.
        self._browser = await self._playwright.chromium.launch(
            executable_path=path, args=list(CHROMIUM_ARGS), headless=True, timeout=30_000
        )
        self.launches += 1
        log.info(
            "crawler.browser_launched",
            chromium_path=path,
            version=self._browser.version,
            seconds=round(time.monotonic() - started, 2),
        )
        return self._browser

    async def _close(self) -> None:
        async with self._lock:
            await self._close_locked()
            self._failed = None

    async def _close_locked(self) -> None:
        browser, self._browser = self._browser, None
        driver, self._playwright = self._playwright, None
        if browser is None and driver is None:
            return
        from playwright.async_api import Error as PlaywrightError

        if browser is not None:
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        if driver is not None:
            with contextlib.suppress(PlaywrightError):
                await driver.stop()
