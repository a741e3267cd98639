"""Rendering pages built by JavaScript in the system's headless Chromium: which pages are
rendered, what comes out, and that the browser reaches nothing the crawler may not."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deskpilot.crawler import (
    Crawler,
    CrawlStatus,
    KnownPage,
    PageOutcome,
    PageResult,
    Reason,
    _render,
    extract_html,
    render_unavailable,
)
from deskpilot.crawler._fetch import Fetched, Fetcher
from deskpilot.crawler._render import RENDER_BELOW_CHARS, PageLoad, needs_rendering
from deskpilot.models import Page
from tests.crawl.conftest import wait_for_job
from tests.site import Site as DocsSite
from tests.site import serve

from .conftest import Request, Response, Site, by_url, crawl_all, fast_options, loopback_only

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's")
    return CHROMIUM


needs_chromium = pytest.mark.usefixtures("chromium")

SHELL = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Help centre</title>"
    "</head><body><div id='root'></div>"
    "<noscript>You need to enable JavaScript to run this app.</noscript>"
    "<script src='/app.js'></script></body></html>"
)
# Builds the article from a JSON document of the same origin, as single-page apps do.
APP_JS = """
fetch('/content.json').then((r) => r.json()).then((doc) => {
  const main = document.createElement('main');
  const title = document.createElement('h1');
  title.textContent = doc.title;
  main.append(title);
  for (const part of doc.sections) {
    const heading = document.createElement('h2');
    heading.textContent = part.heading;
    const text = document.createElement('p');
    text.textContent = part.text;
    main.append(heading, text);
  }
  const link = document.createElement('a');
  link.href = '/guide';
  link.textContent = 'Guide';
  main.append(link);
  document.getElementById('root').append(main);
  history.replaceState(null, '', '/en/billing');  // a client-side router's own URL
});
"""
CONTENT = {
    "title": "Billing help",
    "sections": [
        {
            "heading": "Refunds",
            "text": "Refunds reach the original card within five business days of approval. "
            "The amount shows as a credit named after the shop on the statement.",
        },
        {
            "heading": "Invoices",
            "text": "Every paid order has an invoice under Account, then Orders. Invoices "
            "carry the VAT number given at checkout and can be downloaded as PDF.",
        },
    ],
}
PROSE = "Our support team answers every message within one working day, in order. " * 6


def rendering(**overrides: Any) -> Any:
    return fast_options(render_js=True, chromium_path=CHROMIUM, **overrides)


def js_site(site: Site) -> None:
    site.add("/", SHELL)
    site.add("/app.js", APP_JS, content_type="text/javascript")
    site.add("/content.json", json.dumps(CONTENT), content_type="application/json")
    site.page("/guide", "Guide", f"<main><h1>Guide</h1><p>{PROSE}</p></main>")


def shell_with(script: str) -> str:
    return (
        "<!doctype html><html><head><title>Status</title></head><body><div id='root'></div>"
        f"<script>{script}</script></body></html>"
    )


# The page writes its own text, then reports what each request to `target` came to.
REPORTING = """
document.getElementById('root').innerHTML =
  '<main><h1>Status</h1><p>' + 'All systems are running normally today. '.repeat(8) +
  '</p></main>';
const note = (text) => {
  const p = document.createElement('p');
  p.textContent = text;
  document.querySelector('main').append(p);
};
"""


class RecordingLog:
    """Stands in for a module's structlog logger: (level, event, values) per call."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **values: self.events.append((level, event, values))


def page_text(result: PageResult) -> str:
    assert result.page is not None, result
    return result.page.text


class TestNeedsRendering:
    def test_an_empty_application_shell_needs_it(self) -> None:
        body = SHELL.encode()
        assert needs_rendering(body, extract_html(body, "https://help.example.com/"))

    def test_a_page_with_its_text_does_not_even_with_scripts(self) -> None:
        body = (
            f"<html><body><main><h1>Help</h1><p>{PROSE}</p></main>"
            "<script src='/analytics.js'></script></body></html>"
        ).encode()
        extraction = extract_html(body, "https://help.example.com/")
        assert not needs_rendering(body, extraction)

    def test_a_short_page_without_any_script_does_not(self) -> None:
        body = b"<html><body><main><h1>Contact</h1><p>Write to us.</p></main></body></html>"
        extraction = extract_html(body, "https://help.example.com/contact")
        assert len(extraction.page.text) < RENDER_BELOW_CHARS
        assert not needs_rendering(body, extraction)

    def test_a_noindex_shell_does_not(self) -> None:
        body = SHELL.replace("<title>", "<meta name='robots' content='noindex'><title>").encode()
        assert not needs_rendering(body, extract_html(body, "https://help.example.com/"))


@dataclass
class FakeFrame:
    parent_frame: FakeFrame | None = None


@dataclass
class FakeRequest:
    url: str
    method: str = "GET"
    resource_type: str = "fetch"
    navigation: bool = False
    frame: FakeFrame = field(default_factory=FakeFrame)
    headers: dict[str, str] = field(default_factory=dict)

    def is_navigation_request(self) -> bool:
        return self.navigation


class TestPageLoadRefusal:
    PAGE = "https://help.example.com/billing"

    @pytest.fixture(autouse=True)
    async def _fetcher(self) -> Any:
        async with Fetcher(fast_options()) as fetcher:
            self.fetcher = fetcher
            yield

    def load(self, *, disallowed: str = "") -> PageLoad:
        return PageLoad(
            Fetched(self.PAGE, 200, httpx.Headers(), b""),
            self.fetcher,
            allow_resource=lambda url: not (disallowed and url.startswith(disallowed)),
        )

    def test_the_page_itself_once_then_no_other_navigation(self) -> None:
        load = self.load()
        document = FakeRequest(self.PAGE, resource_type="document", navigation=True)
        assert load.refusal(document) is None
        load.document_served = True
        assert load.refusal(document) is not None
        away = FakeRequest("https://help.example.com/other", "GET", "document", True)
        assert load.refusal(away) is not None

    def test_a_first_navigation_elsewhere_is_refused(self) -> None:
        away = FakeRequest("https://evil.example/", resource_type="document", navigation=True)
        assert self.load().refusal(away) == "not the page being rendered"

    def test_frames_are_refused(self) -> None:
        frame = FakeRequest(
            "https://help.example.com/widget",
            resource_type="document",
            navigation=True,
            frame=FakeFrame(parent_frame=FakeFrame()),
        )
        assert self.load().refusal(frame) == "frames are never extracted"

    @pytest.mark.parametrize(
        "request_",
        [
            FakeRequest("file:///etc/passwd"),
            FakeRequest("ftp://help.example.com/data.json"),
            FakeRequest("https://help.example.com/data.json", method="POST"),
            FakeRequest("https://help.example.com/logo.png", resource_type="image"),
            FakeRequest("https://help.example.com/site.css", resource_type="stylesheet"),
            FakeRequest("https://help.example.com/beacon", resource_type="ping"),
            FakeRequest("https://help.example.com/events", resource_type="eventsource"),
        ],
    )
    def test_what_the_text_does_not_need_is_refused(self, request_: FakeRequest) -> None:
        assert self.load().refusal(request_) is not None

    def test_scripts_and_data_are_fetched_unless_robots_disallow_them(self) -> None:
        load = self.load(disallowed="https://help.example.com/private/")
        assert load.refusal(FakeRequest("https://cdn.example.net/app.js", "GET", "script")) is None
        assert load.refusal(FakeRequest("https://help.example.com/api/doc", "GET", "xhr")) is None
        refused = load.refusal(FakeRequest("https://help.example.com/private/doc.json"))
        assert refused == "disallowed by robots.txt"


@needs_chromium
class TestRenderedCrawl:
    async def test_a_page_built_by_javascript_yields_its_text_and_headings(
        self, site: Site
    ) -> None:
        js_site(site)
        async with Crawler(rendering()) as crawler:
            results, summary = await crawl_all(crawler, site.url("/"))
            assert crawler.renderer is not None and not crawler.renderer.running

        home = by_url(results)[site.url("/")]
        assert summary.status is CrawlStatus.COMPLETED
        assert (home.outcome, home.rendered) == (PageOutcome.NEW, True)
        assert home.page is not None and home.page.title == "Help centre"
        assert [s.heading_path for s in home.page.sections] == [
            ("Billing help", "Refunds"),
            ("Billing help", "Invoices"),
        ]
        assert "within five business days" in page_text(home)
        assert "enable JavaScript" not in page_text(home)
        # A link the script wrote is followed; a rendered page keeps no validators.
        assert by_url(results)[site.url("/guide")].outcome is PageOutcome.NEW
        assert home.etag is None and home.last_modified is None
        assert summary.stats.rendered == 1
        # The browser's requests went out with the crawler's identity, the page only once.
        assert site.hits("/") == 1
        assert "deskpilotbot" in site.last("/content.json").headers["user-agent"]

    async def test_without_rendering_the_same_page_yields_nothing(self, site: Site) -> None:
        js_site(site)
        async with Crawler(fast_options()) as crawler:
            results, _ = await crawl_all(crawler, site.url("/"))
            assert crawler.renderer is None

        home = by_url(results)[site.url("/")]
        assert (home.outcome, home.reason, home.rendered) == (
            PageOutcome.SKIPPED,
            Reason.NO_CONTENT,
            False,
        )
        assert site.hits("/app.js") == site.hits("/content.json") == 0

    async def test_a_page_with_its_text_never_starts_the_browser(self, site: Site) -> None:
        site.page(
            "/",
            "Support",
            f"<main><h1>Support</h1><p>{PROSE}</p></main><script src='/app.js'></script>",
        )
        site.add("/app.js", APP_JS, content_type="text/javascript")
        async with Crawler(rendering()) as crawler:
            results, _ = await crawl_all(crawler, site.url("/"))
            assert crawler.renderer is not None and crawler.renderer.launches == 0

        home = by_url(results)[site.url("/")]
        assert (home.outcome, home.rendered) == (PageOutcome.NEW, False)
        assert site.hits("/app.js") == 0

    async def test_a_rendering_without_more_text_is_dropped(self, site: Site) -> None:
        # An index of links under the threshold: rendered once, kept as fetched.
        links = "".join(f"<a href='/p{i}'>Page {i}</a>" for i in range(3))
        site.add(
            "/",
            "<html><head><title>Index</title></head><body><main><h1>Index</h1>"
            f"<p>Pick a topic.</p>{links}</main><script>window.ready = true;</script>"
            "</body></html>",
            headers={"ETag": '"v1"'},
        )
        async with Crawler(rendering()) as crawler:
            results, summary = await crawl_all(crawler, site.url("/"), page_limit=1)
            assert crawler.renderer is not None and crawler.renderer.launches == 1

        home = by_url(results)[site.url("/")]
        assert (home.outcome, home.rendered, home.etag) == (PageOutcome.NEW, False, '"v1"')
        assert summary.stats.rendered == 0

    async def test_a_recrawl_renders_again_and_finds_it_unchanged(self, site: Site) -> None:
        js_site(site)
        async with Crawler(rendering()) as crawler:
            assert crawler.renderer is not None
            # Crawls that overlap share one browser, as concurrent crawl jobs do.
            async with crawler.renderer.session():
                first, _ = await crawl_all(crawler, site.url("/"), page_limit=1)
                stored = by_url(first)[site.url("/")]
                known = [KnownPage(stored.url, content_hash=stored.content_hash)]
                again, _ = await crawl_all(crawler, site.url("/"), page_limit=1, known=known)
                assert crawler.renderer.running
            assert crawler.renderer.launches == 1 and not crawler.renderer.running

        home = by_url(again)[site.url("/")]
        assert (home.outcome, home.rendered) == (PageOutcome.UNCHANGED, True)
        assert site.hits("/content.json") == 2

    async def test_missing_chromium_warns_once_and_keeps_the_plain_result(
        self, site: Site, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        js_site(site)
        site.add("/other", SHELL)
        site.add("/", SHELL.replace("<body>", "<body><nav><a href='/other'>Other</a></nav>"))
        logged = RecordingLog()
        monkeypatch.setattr(_render, "log", logged)
        options = fast_options(render_js=True, chromium_path="/nonexistent/chromium")
        async with Crawler(options) as crawler:
            results, summary = await crawl_all(crawler, site.url("/"))

        warnings = [e for e in logged.events if e[1] == "crawler.render_unavailable"]
        assert len(warnings) == 1 and warnings[0][0] == "warning"
        assert "/nonexistent/chromium" in warnings[0][2]["reason"]
        assert summary.status is CrawlStatus.COMPLETED
        pages = by_url(results)
        assert {pages[site.url(p)].reason for p in ("/", "/other")} == {Reason.NO_CONTENT}
        assert not any(r.rendered for r in results)

    async def test_a_browser_that_fails_to_start_leaves_the_crawl_running(
        self, site: Site, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        js_site(site)
        logged = RecordingLog()
        monkeypatch.setattr(_render, "log", logged)
        # An executable that exits at once: Playwright's launch fails.
        options = fast_options(render_js=True, chromium_path="/bin/false")
        async with Crawler(options) as crawler:
            results, summary = await crawl_all(crawler, site.url("/"))

        assert summary.status is CrawlStatus.COMPLETED
        home = by_url(results)[site.url("/")]
        assert (home.reason, home.rendered) == (Reason.NO_CONTENT, False)
        reasons = [e[2]["reason"] for e in logged.events if e[1] == "crawler.render_unavailable"]
        assert len(reasons) == 1 and reasons[0].startswith("Chromium failed to start")

    def test_without_playwright_rendering_is_unavailable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "playwright" else real(name, *a),
        )
        why = render_unavailable(CHROMIUM)
        assert why is not None and "deskpilot[render]" in why


@needs_chromium
class TestBrowserGuard:
    """The SSRF policy holds for everything a rendered page asks for: 127.0.0.1 stands in
    for the public site, 127.0.0.2 (`other_site`) for an internal host."""

    HOSTILE = """
const inside = 'http://127.0.0.2:PORT';
fetch(inside + '/secret.json').then((r) => r.text()).then(
  (t) => note('LEAKED ' + t), () => note('fetch refused'));
const script = document.createElement('script');
script.src = inside + '/secret.js';
document.head.append(script);
const frame = document.createElement('iframe');
frame.src = inside + '/frame';
document.body.append(frame);
new Image().src = inside + '/pixel.png';
navigator.sendBeacon(inside + '/beacon', 'x');
try { new WebSocket('ws://127.0.0.2:PORT/socket'); } catch (e) {}
fetch('/form', {method: 'POST', body: 'x'}).catch(() => {});
location.href = inside + '/away';
"""

    def hostile_site(self, site: Site, other_site: Site) -> None:
        script = REPORTING + self.HOSTILE.replace("PORT", str(site.port))
        site.add("/", shell_with(script))
        cors = {"Access-Control-Allow-Origin": "*"}
        other_site.add(
            "/secret.json", '{"token": "s3cr3t"}', content_type="application/json", headers=cors
        )
        other_site.add("/secret.js", "note('LEAKED script')", content_type="text/javascript")

    async def test_requests_to_a_refused_address_never_leave(
        self, site: Site, other_site: Site
    ) -> None:
        self.hostile_site(site, other_site)
        async with Crawler(loopback_only(render_js=True, chromium_path=CHROMIUM)) as crawler:
            results, _ = await crawl_all(crawler, site.url("/"))

        home = by_url(results)[site.url("/")]
        assert home.rendered
        assert "fetch refused" in page_text(home) and "LEAKED" not in page_text(home)
        assert other_site.requests == []
        assert sorted(site.paths()) == ["/", "/robots.txt", "/sitemap.xml"]

    async def test_the_same_requests_pass_where_the_policy_allows_them(
        self, site: Site, other_site: Site
    ) -> None:
        # The control: with private networks allowed the secret is read, so the refusal
        # above is the guard's doing. Still nothing but the script's data request leaves.
        self.hostile_site(site, other_site)
        async with Crawler(rendering()) as crawler:
            results, _ = await crawl_all(crawler, site.url("/"))

        assert 'LEAKED {"token": "s3cr3t"}' in page_text(by_url(results)[site.url("/")])
        assert sorted(other_site.paths()) == ["/secret.js", "/secret.json"]

    async def test_the_browser_resolves_and_connects_to_nothing_itself(self, site: Site) -> None:
        # Chromium cannot resolve docs.test (only the crawler's resolver knows it): the
        # page renders because every byte came through the crawler's client.
        js_site(site)

        async def resolver(host: str, port: int) -> Sequence[str]:
            assert host == "docs.test"
            return ["127.0.0.1"]

        origin = f"http://docs.test:{site.port}"
        options = loopback_only(render_js=True, chromium_path=CHROMIUM)
        async with Crawler(options, resolver=resolver) as crawler:
            results, _ = await crawl_all(crawler, origin + "/", page_limit=1)

        home = by_url(results)[origin + "/"]
        assert home.rendered and "Refunds reach the original card" in page_text(home)
        assert site.last("/content.json").headers["host"] == f"docs.test:{site.port}"

    async def test_a_name_rebound_after_the_page_was_fetched_reaches_nothing(
        self, site: Site, other_site: Site
    ) -> None:
        rebound = threading.Event()

        async def rebinding(host: str, port: int) -> Sequence[str]:
            return ["127.0.0.2" if rebound.is_set() else "127.0.0.1"]

        script = REPORTING + (
            "fetch('/data.json').then((r) => r.text()).then("
            "(t) => note('LEAKED ' + t), () => note('data refused'));"
        )

        def home(_request: Request) -> Response:
            rebound.set()
            # Connection: close makes the browser's next request open (and check) a new one.
            headers = {"Content-Type": "text/html", "Connection": "close"}
            return Response(200, shell_with(script).encode(), headers)

        site.route("/", home)
        other_site.add("/data.json", '{"internal": true}', content_type="application/json")
        origin = f"http://public.test:{site.port}"
        options = loopback_only(render_js=True, chromium_path=CHROMIUM)
        async with Crawler(options, resolver=rebinding) as crawler:
            results, _ = await crawl_all(crawler, origin + "/", page_limit=1)

        text = page_text(by_url(results)[origin + "/"])
        assert "data refused" in text and "LEAKED" not in text
        assert other_site.requests == []


# --- through the crawl job ------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
        "CRAWLER_RENDER_JS": True,
        "CRAWLER_CHROMIUM_PATH": CHROMIUM,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@needs_chromium
class TestRenderedCrawlJob:
    async def test_javascript_text_is_searchable_in_the_knowledge_base(
        self, client: Any, org: Any, sessionmaker: Any
    ) -> None:
        docs = DocsSite()
        docs.html("/help/", SHELL.replace("/app.js", "/help/app.js"))
        docs.pages["/help/app.js"] = (
            "text/javascript",
            APP_JS.replace("/content.json", "/help/content.json").replace("/guide", "/help/"),
        )
        docs.pages["/help/content.json"] = ("application/json", json.dumps(CONTENT))
        docs.pages["/robots.txt"] = ("text/plain", "User-agent: *\nAllow: /\n")
        with serve(docs):
            created = await client.post(
                "/crawl", json={"url": f"{docs.base}/help/"}, headers=org.headers
            )
            assert created.status_code == 201, created.text
            job = await wait_for_job(client, org, created.json()["id"])

        assert job["status"] == "completed" and job["new_pages"] == 1, job
        hits = (
            await client.post(
                "/knowledge/search",
                json={"query": "when does a refund reach my card", "limit": 3},
                headers=org.headers,
            )
        ).json()["items"]
        assert hits and hits[0]["url"] == f"{docs.base}/help/"
        assert "five business days" in hits[0]["text"]
        assert hits[0]["heading"].endswith("Refunds")
        async with sessionmaker() as session:
            page = (await session.scalars(sa.select(Page))).one()
        assert page.etag is None and "VAT number" in (page.content or "")
