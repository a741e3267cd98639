"""Whole crawls against real local sites: scope, limits, incremental re-crawls, redirects,
duplicates, resume and cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from deskpilot.crawler import (
    Crawler,
    CrawlSpec,
    CrawlStatus,
    KnownPage,
    PageOutcome,
    Reason,
)

from .conftest import Request, Response, Site, by_url, crawl_all, fast_options


def _article(text: str) -> str:
    return (
        f"<main><h1>{text}</h1><p>{text} explained in enough words to count as content.</p></main>"
    )


def _linked_site(site: Site, paths: list[str]) -> None:
    links = "".join(f'<a href="{p}">{p}</a>' for p in paths)
    site.page("/", "Home", f"<nav>{links}</nav>{_article('Home page')}")
    for path in paths:
        site.page(path, path, _article(f"Page {path}"))


class TestCrawl:
    async def test_follows_links_and_reports_each_page_once(
        self, crawler: Crawler, site: Site
    ) -> None:
        _linked_site(site, ["/a", "/b", "/c"])
        site.page("/a", "A", _article("Page A") + '<a href="/d#frag">d</a><a href="/b">b</a>')
        site.page("/d", "D", _article("Page D"))

        results, summary = await crawl_all(crawler, site.url("/"))

        assert summary.status is CrawlStatus.COMPLETED
        pages = by_url(results)
        assert set(pages) == {site.url(p) for p in ["/", "/a", "/b", "/c", "/d"]}
        assert all(r.outcome is PageOutcome.NEW for r in results)
        d_page = pages[site.url("/d")].page
        assert d_page is not None
        assert d_page.sections[0].heading_path == ("Page D",)
        assert site.hits("/b") == 1
        assert site.url("/d") in pages[site.url("/a")].discovered

    async def test_include_and_exclude_globs_and_page_limit(
        self, crawler: Crawler, site: Site
    ) -> None:
        paths = ["/docs/a", "/docs/b", "/docs/private/x", "/blog/post", "/docs/c.html"]
        _linked_site(site, paths)

        results, _ = await crawl_all(
            crawler, site.url("/"), include=("/docs",), exclude=("/docs/private",)
        )
        pages = by_url(results)
        assert {u for u, r in pages.items() if r.outcome is PageOutcome.NEW} == {
            site.url(p) for p in ["/docs/a", "/docs/b", "/docs/c.html"]
        }
        # The start page is read for its links but is itself outside the include rule.
        assert pages[site.url("/")].reason is Reason.OUT_OF_SCOPE
        assert site.hits("/blog/post") == 0
        assert site.hits("/docs/private/x") == 0

        results, _ = await crawl_all(crawler, site.url("/"), include=("/docs/*.html",))
        assert {r.url for r in results if r.outcome is PageOutcome.NEW} == {
            site.url("/docs/c.html")
        }

    async def test_page_limit_caps_fetched_pages(self, crawler: Crawler, site: Site) -> None:
        _linked_site(site, [f"/p{i}" for i in range(10)])

        results, summary = await crawl_all(crawler, site.url("/"), page_limit=4)

        assert len(results) == 4
        assert summary.stats.admitted == 4
        assert summary.stats.hit_page_limit
        page_requests = [p for p in site.paths() if p.startswith("/p") or p == "/"]
        assert len(page_requests) == 4

    async def test_stays_under_the_start_path(self, crawler: Crawler, site: Site) -> None:
        site.page(
            "/docs/", "Docs", _article("Docs") + '<a href="/docs/a">a</a><a href="/pricing">$</a>'
        )
        site.page("/docs/a", "A", _article("Docs A"))
        site.page("/pricing", "Pricing", _article("Pricing"))

        results, _ = await crawl_all(crawler, site.url("/docs/"))

        assert {r.url for r in results} == {site.url("/docs/"), site.url("/docs/a")}
        assert site.hits("/pricing") == 0

    async def test_skips_links_to_files_that_are_not_pages(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/logo.png">l</a><a href="/x.zip">z</a>')
        await crawl_all(crawler, site.url("/"))
        assert site.hits("/logo.png") == 0
        assert site.hits("/x.zip") == 0

    async def test_normalises_urls_before_deduplicating(self, crawler: Crawler, site: Site) -> None:
        site.page(
            "/",
            "Home",
            _article("Home")
            + '<a href="/a?utm_source=x">1</a><a href="/./a#top">2</a><a href="HTTP://127.0.0.1:'
            + str(site.port)
            + '/a">3</a>',
        )
        site.page("/a", "A", _article("A"))
        results, _ = await crawl_all(crawler, site.url("/"))
        assert [r.url for r in results].count(site.url("/a")) == 1
        assert site.hits("/a") == 1


class TestRedirects:
    async def test_in_scope_redirect_reports_both_urls(self, crawler: Crawler, site: Site) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/old">old</a>')
        site.redirect("/old", "/new")
        site.page("/new", "New", _article("New page"))

        pages = by_url((await crawl_all(crawler, site.url("/")))[0])

        old = pages[site.url("/old")]
        assert (old.outcome, old.reason, old.target_url) == (
            PageOutcome.SKIPPED,
            Reason.REDIRECT,
            site.url("/new"),
        )
        assert pages[site.url("/new")].outcome is PageOutcome.NEW
        assert site.hits("/new") == 1

    async def test_redirect_out_of_scope_is_not_followed(
        self, crawler: Crawler, site: Site, other_site: Site
    ) -> None:
        site.page(
            "/docs/",
            "Docs",
            _article("Docs") + '<a href="/docs/away">a</a><a href="/docs/up">u</a>',
        )
        site.redirect("/docs/away", other_site.url("/landing"))
        site.redirect("/docs/up", "/elsewhere")
        other_site.page("/landing", "Landing", _article("Landing"))
        site.page("/elsewhere", "Elsewhere", _article("Elsewhere"))

        pages = by_url((await crawl_all(crawler, site.url("/docs/")))[0])

        away = pages[site.url("/docs/away")]
        assert away.reason is Reason.REDIRECT and away.target_url == other_site.url("/landing")
        assert away.error is not None and "not followed" in away.error
        assert other_site.hits("/landing") == 0
        assert site.hits("/elsewhere") == 0

    async def test_meta_refresh_stub_is_a_redirect(self, crawler: Crawler, site: Site) -> None:
        refresh = '<meta http-equiv="refresh" content="0; url=/moved-here">'
        site.page("/", "Home", _article("Home") + '<a href="/stub">s</a>')
        site.add("/stub", f"<html><head>{refresh}</head><body>Redirecting…</body></html>")
        site.page("/moved-here", "Moved", _article("Moved here"))

        pages = by_url((await crawl_all(crawler, site.url("/")))[0])

        stub = pages[site.url("/stub")]
        assert (stub.reason, stub.target_url) == (Reason.REDIRECT, site.url("/moved-here"))
        assert pages[site.url("/moved-here")].outcome is PageOutcome.NEW

    async def test_redirect_loop_fails_the_page(self, crawler: Crawler, site: Site) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/loop1">l</a>')
        site.redirect("/loop1", "/loop2")
        site.redirect("/loop2", "/loop1")
        pages = by_url((await crawl_all(crawler, site.url("/")))[0])
        assert pages[site.url("/loop1")].reason is Reason.TOO_MANY_REDIRECTS

    async def test_start_redirect_off_site_fails_the_crawl(
        self, crawler: Crawler, site: Site, other_site: Site
    ) -> None:
        site.redirect("/", other_site.url("/"))
        _, summary = await crawl_all(crawler, site.url("/"))
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and other_site.url("/") in summary.error
        assert other_site.requests == []

    async def test_start_redirect_within_site_is_followed(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.redirect("/", "/en/")
        site.page("/en/", "English", _article("Welcome"))
        results, summary = await crawl_all(crawler, site.url("/"), include=("/en",))
        assert summary.status is CrawlStatus.COMPLETED
        assert by_url(results)[site.url("/en/")].outcome is PageOutcome.NEW


class TestIncremental:
    async def test_304_reports_unchanged_without_extracting(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/a">a</a>')

        def conditional(request: Request) -> Response:
            if request.headers.get("if-none-match") == '"v1"':
                return Response(304, headers={"ETag": '"v1"'})
            return Response(200, b"<main><h1>A</h1><p>Changed entirely.</p></main>")

        site.route("/a", conditional)
        known = [KnownPage(site.url("/a"), etag='"v1"', content_hash="h-a")]

        pages = by_url((await crawl_all(crawler, site.url("/"), known=known))[0])

        a = pages[site.url("/a")]
        assert (a.outcome, a.http_status, a.page, a.content_hash) == (
            PageOutcome.UNCHANGED,
            304,
            None,
            "h-a",
        )
        assert site.last("/a").headers["if-none-match"] == '"v1"'

    async def test_last_modified_is_sent_as_if_modified_since(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page("/", "Home", _article("Home"))
        stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
        site.route(
            "/a",
            lambda r: (
                Response(304) if r.headers.get("if-modified-since") == stamp else Response(500)
            ),
        )
        known = [KnownPage(site.url("/a"), last_modified=stamp, content_hash="h")]
        pages = by_url((await crawl_all(crawler, site.url("/"), known=known))[0])
        assert pages[site.url("/a")].outcome is PageOutcome.UNCHANGED

    async def test_same_hash_is_unchanged_and_changed_page_is_updated(
        self, crawler: Crawler, site: Site
    ) -> None:
        _linked_site(site, ["/a", "/b"])
        first = by_url((await crawl_all(crawler, site.url("/")))[0])
        known = [
            KnownPage(
                r.url, etag=r.etag, last_modified=r.last_modified, content_hash=r.content_hash
            )
            for r in first.values()
        ]
        site.page("/b", "/b", _article("Page /b, now rewritten"))

        second = by_url((await crawl_all(crawler, site.url("/"), known=known))[0])

        assert second[site.url("/a")].outcome is PageOutcome.UNCHANGED
        assert second[site.url("/a")].content_hash == first[site.url("/a")].content_hash
        assert second[site.url("/b")].outcome is PageOutcome.UPDATED
        assert second[site.url("/b")].content_hash != first[site.url("/b")].content_hash
        assert second[site.url("/b")].page is not None

    async def test_404_and_410_are_gone(self, crawler: Crawler, site: Site) -> None:
        site.page("/", "Home", _article("Home"))
        site.add("/removed", "gone", status=410)
        known = [KnownPage(site.url("/missing"), content_hash="x"), KnownPage(site.url("/removed"))]

        pages = by_url((await crawl_all(crawler, site.url("/"), known=known))[0])

        assert pages[site.url("/missing")].outcome is PageOutcome.GONE
        assert pages[site.url("/missing")].http_status == 404
        assert pages[site.url("/removed")].outcome is PageOutcome.GONE
        assert pages[site.url("/removed")].http_status == 410

    async def test_known_pages_out_of_scope_or_over_limit_are_reported(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page("/", "Home", _article("Home"))
        for path in ("/docs/1", "/docs/2", "/docs/3"):
            site.page(path, path, _article(path))
        known = [
            KnownPage(site.url("/private/x"), content_hash="p"),
            KnownPage("https://elsewhere.example/page", content_hash="e"),
            *(KnownPage(site.url(p), content_hash="d") for p in ("/docs/1", "/docs/2", "/docs/3")),
        ]

        pages = by_url(
            (
                await crawl_all(
                    crawler, site.url("/"), exclude=("/private",), known=known, page_limit=3
                )
            )[0]
        )

        assert pages[site.url("/private/x")].reason is Reason.OUT_OF_SCOPE
        assert pages["https://elsewhere.example/page"].reason is Reason.OUT_OF_SCOPE
        assert pages[site.url("/docs/3")].reason is Reason.PAGE_LIMIT
        assert site.hits("/private/x") == 0


class TestResume:
    async def test_done_urls_are_skipped_and_pending_ones_fetched(
        self, crawler: Crawler, site: Site
    ) -> None:
        _linked_site(site, ["/a", "/b"])
        site.page("/orphan", "Orphan", _article("Only known from the saved frontier"))

        results, _ = await crawl_all(
            crawler,
            site.url("/"),
            done=[site.url("/"), site.url("/a")],
            pending=[site.url("/orphan"), site.url("/b")],
            page_limit=4,
        )

        assert {r.url for r in results} == {site.url("/orphan"), site.url("/b")}
        assert site.hits("/") == 0 and site.hits("/a") == 0

    async def test_excluded_urls_are_never_fetched_nor_counted(
        self, crawler: Crawler, site: Site
    ) -> None:
        _linked_site(site, ["/a", "/b", "/c"])
        spec = CrawlSpec(site.url("/"), page_limit=3)
        async with crawler.crawl(spec, excluded=[site.url("/"), site.url("/a")]) as run:
            results = [result async for result in run]

        # The excluded start page is still read for its links, but never reported.
        assert {r.url for r in results} == {site.url("/b"), site.url("/c")}
        assert site.hits("/a") == 0
        assert site.hits("/") == 1

    async def test_one_page_resync_reads_no_sitemap(self, crawler: Crawler, site: Site) -> None:
        _linked_site(site, ["/a"])
        site.sitemap("/sitemap.xml", [site.url("/b")])
        known = [KnownPage(site.url("/a"), content_hash="old")]

        results, _ = await crawl_all(crawler, site.url("/a"), known=known, page_limit=1)

        assert [(r.url, r.outcome) for r in results] == [(site.url("/a"), PageOutcome.UPDATED)]
        assert site.hits("/sitemap.xml") == 0


class TestDuplicates:
    async def test_canonical_link_reports_the_canonical_url(
        self, crawler: Crawler, site: Site
    ) -> None:
        canonical = f'<link rel="canonical" href="{site.url("/guide")}">'
        site.page("/", "Home", _article("Home") + '<a href="/guide?print=1">p</a>')
        site.add(
            "/guide?print=1",
            f"<html><head>{canonical}</head><body>{_article('Guide')}</body></html>",
        )

        pages = by_url((await crawl_all(crawler, site.url("/")))[0])

        assert pages[site.url("/guide?print=1")].reason is Reason.CANONICAL
        assert pages[site.url("/guide")].outcome is PageOutcome.NEW
        assert pages[site.url("/guide")].page is not None
        assert site.hits("/guide") == 0  # the content came with the first fetch

    async def test_identical_content_is_reported_as_duplicate(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/x">1</a><a href="/x/index.html">2</a>')
        site.page("/x", "X", _article("Same"))
        site.page("/x/index.html", "X", _article("Same"))

        results, _ = await crawl_all(crawler, site.url("/"))

        outcomes = sorted((r.outcome, r.reason) for r in results if r.url != site.url("/"))
        assert outcomes == [(PageOutcome.NEW, None), (PageOutcome.SKIPPED, Reason.DUPLICATE)]

    async def test_noindex_page_is_skipped_but_its_links_followed(
        self, crawler: Crawler, site: Site
    ) -> None:
        robots = '<meta name="robots" content="noindex">'
        site.add("/", f"<html><head>{robots}</head><body><a href='/a'>a</a></body></html>")
        site.page("/a", "A", _article("A"))
        site.page("/b", "B", _article("B"), headers={"X-Robots-Tag": "deskpilotbot: noindex"})
        site.page("/a", "A", _article("A") + '<a href="/b">b</a>')

        pages = by_url((await crawl_all(crawler, site.url("/")))[0])

        assert pages[site.url("/")].reason is Reason.NOINDEX
        assert pages[site.url("/a")].outcome is PageOutcome.NEW
        assert pages[site.url("/b")].reason is Reason.NOINDEX


class TestFailures:
    async def test_unreachable_start_url_fails_the_crawl(self, crawler: Crawler) -> None:
        _, summary = await crawl_all(crawler, "http://127.0.0.1:9/")
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and "robots.txt" in summary.error

    async def test_start_url_404_fails_the_crawl(self, crawler: Crawler, site: Site) -> None:
        _, summary = await crawl_all(crawler, site.url("/nothing-here"))
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and "404" in summary.error

    async def test_unsupported_content_type_is_skipped(self, crawler: Crawler, site: Site) -> None:
        site.page("/", "Home", _article("Home") + '<a href="/data">d</a>')
        site.add("/data", b'{"a": 1}', content_type="application/json")
        pages = by_url((await crawl_all(crawler, site.url("/")))[0])
        assert pages[site.url("/data")].reason is Reason.UNSUPPORTED_TYPE

    async def test_plain_text_and_markdown_pages_are_extracted(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.page(
            "/", "Home", _article("Home") + '<a href="/notes.txt">t</a><a href="/readme.md">m</a>'
        )
        site.add("/notes.txt", "First paragraph.\n\nSecond one.", content_type="text/plain")
        site.add(
            "/readme.md", "# Readme\n\n## Install\n\nRun `make`.", content_type="text/markdown"
        )

        pages = by_url((await crawl_all(crawler, site.url("/")))[0])

        text = pages[site.url("/notes.txt")].page
        assert text is not None and text.text == "First paragraph.\n\nSecond one."
        markdown = pages[site.url("/readme.md")].page
        assert markdown is not None
        assert markdown.title == "Readme"
        assert markdown.sections[-1].heading_path == ("Readme", "Install")
        assert markdown.sections[-1].text == "Run make."


class TestCancellation:
    async def test_cancel_stops_fetching_within_a_second(self, site: Site) -> None:
        paths = [f"/slow{i}" for i in range(40)]
        _linked_site(site, paths)
        for path in paths:
            site.page(path, path, _article(path), delay=0.5)

        async with Crawler(fast_options(concurrency=4)) as crawler:
            async with crawler.crawl(CrawlSpec(site.url("/"))) as run:
                results = []
                async for result in run:
                    results.append(result)
                    if len(results) == 2:
                        cancelled_at = time.monotonic()
                        run.cancel()
                ended_at = time.monotonic()
            requests_at_cancel = len(site.requests)
            await asyncio.sleep(0.7)

        assert run.summary is not None and run.summary.status is CrawlStatus.CANCELLED
        assert ended_at - cancelled_at < 1.0
        # Nothing new was asked of the server after the crawl said it stopped.
        assert len(site.requests) == requests_at_cancel
        assert len(site.requests) < 15

    async def test_leaving_the_block_stops_the_crawl(self, site: Site) -> None:
        paths = [f"/slow{i}" for i in range(20)]
        _linked_site(site, paths)
        for path in paths:
            site.page(path, path, _article(path), delay=0.3)

        async with Crawler(fast_options()) as crawler:
            started = time.monotonic()
            async with crawler.crawl(CrawlSpec(site.url("/"))) as run:
                async for _ in run:
                    break
            assert time.monotonic() - started < 1.5
        assert run.summary is not None and run.summary.status is CrawlStatus.CANCELLED


class TestRunUsage:
    async def test_iterating_without_entering_is_refused(self, crawler: Crawler) -> None:
        run = crawler.crawl(CrawlSpec("http://127.0.0.1:9/"))
        with pytest.raises(RuntimeError):
            await run.__anext__()
