"""Fetching behaviour seen from a real server: retries and backoff, Retry-After, size caps,
timeouts, per-host concurrency, politeness delays and robots.txt Crawl-delay."""

from __future__ import annotations

import threading
import time

from deskpilot.crawler import Crawler, PageOutcome, Reason

from .conftest import Handler, Request, Response, Site, by_url, crawl_all, fast_options

ARTICLE = b"<main><h1>Title</h1><p>Body text that is long enough to be content.</p></main>"


def _home_linking(site: Site, *paths: str) -> None:
    links = "".join(f'<a href="{p}">{p}</a>' for p in paths)
    site.page("/", "Home", f"<main><h1>Home</h1><p>Links below.</p>{links}</main>")


def _flaky(
    failures: int, status: int = 503, headers: dict[str, str] | None = None
) -> tuple[Handler, list[float]]:
    calls: list[float] = []

    def handler(_request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            return Response(status, b"busy", headers or {})
        return Response(200, ARTICLE, {"Content-Type": "text/html"})

    return handler, calls


class TestRetries:
    async def test_5xx_is_retried_then_succeeds(self, crawler: Crawler, site: Site) -> None:
        _home_linking(site, "/flaky")
        handler, calls = _flaky(2)
        site.route("/flaky", handler)

        results, summary = await crawl_all(crawler, site.url("/"))

        assert by_url(results)[site.url("/flaky")].outcome is PageOutcome.NEW
        assert len(calls) == 3
        assert summary.stats.retries == 2
        # Exponential backoff: the second wait is not shorter than the first one's floor.
        assert calls[1] - calls[0] >= 0.01 and calls[2] - calls[1] >= 0.02

    async def test_persistent_5xx_fails_after_the_retry_budget(
        self, crawler: Crawler, site: Site
    ) -> None:
        _home_linking(site, "/down")
        handler, calls = _flaky(100, status=500)
        site.route("/down", handler)

        result = by_url((await crawl_all(crawler, site.url("/")))[0])[site.url("/down")]

        assert (result.outcome, result.reason, result.http_status) == (
            PageOutcome.FAILED,
            Reason.HTTP_ERROR,
            500,
        )
        assert len(calls) == 3  # one try and max_retries=2

    async def test_404_is_not_retried(self, crawler: Crawler, site: Site) -> None:
        _home_linking(site, "/missing")
        await crawl_all(crawler, site.url("/"))
        assert site.hits("/missing") == 1

    async def test_retry_after_is_honoured(self, crawler: Crawler, site: Site) -> None:
        _home_linking(site, "/limited")
        handler, calls = _flaky(1, status=429, headers={"Retry-After": "1"})
        site.route("/limited", handler)

        result = by_url((await crawl_all(crawler, site.url("/")))[0])[site.url("/limited")]

        assert result.outcome is PageOutcome.NEW
        assert calls[1] - calls[0] >= 0.95

    async def test_retry_after_beyond_the_cap_fails_without_waiting(self, site: Site) -> None:
        _home_linking(site, "/limited")
        handler, calls = _flaky(5, status=429, headers={"Retry-After": "3600"})
        site.route("/limited", handler)

        started = time.monotonic()
        async with Crawler(fast_options(max_retry_after_seconds=5)) as crawler:
            result = by_url((await crawl_all(crawler, site.url("/")))[0])[site.url("/limited")]

        assert result.reason is Reason.RATE_LIMITED
        assert len(calls) == 1
        assert time.monotonic() - started < 2

    async def test_timeout_fails_the_page(self, site: Site) -> None:
        _home_linking(site, "/slow")
        site.page("/slow", "Slow", "<p>late</p>", delay=1.0)

        async with Crawler(fast_options(request_timeout_seconds=0.3, max_retries=0)) as crawler:
            result = by_url((await crawl_all(crawler, site.url("/")))[0])[site.url("/slow")]

        assert (result.outcome, result.reason) == (PageOutcome.FAILED, Reason.TIMEOUT)


class TestSizeCap:
    async def test_declared_length_over_the_cap_is_refused(self, site: Site) -> None:
        _home_linking(site, "/big")
        site.add("/big", b"<p>" + b"x" * 50_000 + b"</p>")

        async with Crawler(fast_options(max_response_bytes=20_000)) as crawler:
            result = by_url((await crawl_all(crawler, site.url("/")))[0])[site.url("/big")]

        assert (result.outcome, result.reason) == (PageOutcome.FAILED, Reason.TOO_LARGE)
        assert site.hits("/big") == 1

    async def test_streamed_body_over_the_cap_is_aborted(self, site: Site) -> None:
        _home_linking(site, "/stream")
        site.add("/stream", b"<p>" + b"y" * 200_000 + b"</p>", chunked=True)

        async with Crawler(fast_options(max_response_bytes=20_000)) as crawler:
            results, summary = await crawl_all(crawler, site.url("/"))

        assert by_url(results)[site.url("/stream")].reason is Reason.TOO_LARGE
        assert summary.stats.bytes_received < 100_000


class TestPoliteness:
    async def test_per_host_concurrency_is_limited(self, site: Site) -> None:
        paths = [f"/p{i}" for i in range(8)]
        _home_linking(site, *paths)
        lock = threading.Lock()
        in_flight = [0]
        peak = [0]

        def slow(_request: Request) -> Response:
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.1)
            with lock:
                in_flight[0] -= 1
            return Response(200, ARTICLE, {"Content-Type": "text/html"})

        for path in paths:
            site.route(path, slow)

        async with Crawler(fast_options(concurrency=8, per_host_concurrency=2)) as crawler:
            await crawl_all(crawler, site.url("/"))

        assert peak[0] == 2

    async def test_politeness_delay_spaces_requests(self, site: Site) -> None:
        _home_linking(site, "/a", "/b", "/c")
        starts: list[float] = []

        def timed(_request: Request) -> Response:
            starts.append(time.monotonic())
            return Response(200, ARTICLE, {"Content-Type": "text/html"})

        for path in ("/a", "/b", "/c"):
            site.route(path, timed)

        async with Crawler(fast_options(politeness_delay_seconds=0.15)) as crawler:
            await crawl_all(crawler, site.url("/"))

        gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
        assert len(gaps) == 2 and min(gaps) >= 0.13

    async def test_robots_crawl_delay_is_respected_within_the_cap(self, site: Site) -> None:
        site.add("/robots.txt", "User-agent: *\nCrawl-delay: 100\n", content_type="text/plain")
        _home_linking(site, "/a", "/b")
        starts: list[float] = []

        def timed(_request: Request) -> Response:
            starts.append(time.monotonic())
            return Response(200, ARTICLE, {"Content-Type": "text/html"})

        site.route("/a", timed)
        site.route("/b", timed)

        async with Crawler(fast_options(max_crawl_delay_seconds=0.3)) as crawler:
            await crawl_all(crawler, site.url("/"))

        starts.sort()
        assert 0.28 <= starts[1] - starts[0] < 1.5


class TestRequests:
    async def test_identifies_itself_and_keeps_no_cookies(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page(
            "/",
            "Home",
            '<main><h1>Home</h1><p>Text.</p><a href="/a">a</a></main>',
            headers={"Set-Cookie": "session=abc; Path=/"},
        )
        site.page("/a", "A", "<main><h1>A</h1><p>Text.</p></main>")

        await crawl_all(crawler, site.url("/"))

        request = site.last("/a")
        assert "deskpilotbot" in request.headers["user-agent"]
        assert "cookie" not in request.headers
