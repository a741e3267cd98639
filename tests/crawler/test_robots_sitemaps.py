"""robots.txt rules and sitemap discovery, against a real local site."""

from __future__ import annotations

import gzip

from deskpilot.crawler import Crawler, CrawlStatus, KnownPage, PageOutcome, Reason
from deskpilot.crawler._sitemaps import parse_sitemap

from .conftest import Site, by_url, crawl_all

ARTICLE = "<main><h1>{0}</h1><p>{0} has enough words to be a page.</p></main>"


def _home(site: Site, *paths: str) -> None:
    links = "".join(f'<a href="{p}">{p}</a>' for p in paths)
    site.page("/", "Home", ARTICLE.format("Home") + links)
    for path in paths:
        site.page(path, path, ARTICLE.format(path))


class TestRobots:
    async def test_disallowed_paths_are_never_fetched(self, crawler: Crawler, site: Site) -> None:
        site.add(
            "/robots.txt",
            "User-agent: *\nDisallow: /\n\n"
            "User-agent: deskpilotbot\nDisallow: /private\nAllow: /\n",
            content_type="text/plain",
        )
        _home(site, "/public", "/private/a", "/private")
        known = [KnownPage(site.url("/private/old"), content_hash="x")]

        results, summary = await crawl_all(crawler, site.url("/"), known=known)

        pages = by_url(results)
        assert summary.status is CrawlStatus.COMPLETED
        assert pages[site.url("/public")].outcome is PageOutcome.NEW
        assert site.hits("/private/a") == 0 and site.hits("/private") == 0
        assert pages[site.url("/private/old")].reason is Reason.ROBOTS

    async def test_rules_for_other_agents_do_not_apply(self, crawler: Crawler, site: Site) -> None:
        site.add("/robots.txt", "User-agent: otherbot\nDisallow: /\n", content_type="text/plain")
        _home(site, "/a")
        results, _ = await crawl_all(crawler, site.url("/"))
        assert by_url(results)[site.url("/a")].outcome is PageOutcome.NEW

    async def test_disallowed_start_url_fails_the_crawl(self, crawler: Crawler, site: Site) -> None:
        site.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
        _home(site)
        _, summary = await crawl_all(crawler, site.url("/"))
        assert summary.status is CrawlStatus.FAILED
        assert site.hits("/") == 0

    async def test_robots_server_error_fails_the_crawl(self, crawler: Crawler, site: Site) -> None:
        site.add("/robots.txt", "oops", status=503, content_type="text/plain")
        _home(site, "/a")
        _, summary = await crawl_all(crawler, site.url("/"))
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and "503" in summary.error
        assert site.hits("/") == 0

    async def test_missing_robots_allows_everything(self, crawler: Crawler, site: Site) -> None:
        _home(site, "/a")  # /robots.txt answers 404
        results, _ = await crawl_all(crawler, site.url("/"))
        assert by_url(results)[site.url("/a")].outcome is PageOutcome.NEW


class TestSitemaps:
    async def test_sitemap_index_from_robots_reveals_unlinked_pages(
        self, crawler: Crawler, site: Site
    ) -> None:
        site.add(
            "/robots.txt",
            f"User-agent: *\nAllow: /\nSitemap: {site.url('/maps/index.xml')}\n",
            content_type="text/plain",
        )
        _home(site)
        for path in ("/hidden/one", "/hidden/two", "/hidden/three"):
            site.page(path, path, ARTICLE.format(path))
        site.sitemap(
            "/maps/index.xml", [site.url("/maps/a.xml"), site.url("/maps/b.xml.gz")], index=True
        )
        site.sitemap("/maps/a.xml", [site.url("/hidden/one"), "https://elsewhere.example/x"])
        site.sitemap(
            "/maps/b.xml.gz", [site.url("/hidden/two"), site.url("/hidden/three")], gz=True
        )

        results, summary = await crawl_all(crawler, site.url("/"))

        pages = by_url(results)
        for path in ("/hidden/one", "/hidden/two", "/hidden/three"):
            assert pages[site.url(path)].outcome is PageOutcome.NEW
        assert summary.stats.sitemap_urls == 3
        assert set(summary.sitemaps) == {
            site.url(p) for p in ("/maps/index.xml", "/maps/a.xml", "/maps/b.xml.gz")
        }
        assert site.hits("/sitemap.xml") == 0  # robots named the sitemaps

    async def test_default_sitemap_location_is_tried(self, crawler: Crawler, site: Site) -> None:
        _home(site)
        site.page("/orphan", "Orphan", ARTICLE.format("Orphan"))
        site.sitemap("/sitemap.xml", [site.url("/orphan")])

        results, _ = await crawl_all(crawler, site.url("/"))

        assert by_url(results)[site.url("/orphan")].outcome is PageOutcome.NEW

    async def test_sitemap_urls_obey_the_rules(self, crawler: Crawler, site: Site) -> None:
        _home(site)
        site.page("/docs/in", "In", ARTICLE.format("In"))
        site.page("/docs/out", "Out", ARTICLE.format("Out"))
        site.sitemap("/sitemap.xml", [site.url("/docs/in"), site.url("/docs/out")])

        await crawl_all(crawler, site.url("/"), include=("/docs",), exclude=("/docs/out",))

        assert site.hits("/docs/in") == 1
        assert site.hits("/docs/out") == 0


class TestParseSitemap:
    def test_text_sitemap(self) -> None:
        assert parse_sitemap(b"https://a.test/1\n\nhttps://a.test/2\nnot a url\n") == (
            False,
            ["https://a.test/1", "https://a.test/2"],
        )

    def test_gzip_and_index_detection(self) -> None:
        xml = (
            b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<sitemap><loc> https://a.test/s.xml </loc></sitemap></sitemapindex>"
        )
        assert parse_sitemap(gzip.compress(xml)) == (True, ["https://a.test/s.xml"])

    def test_external_entities_are_not_resolved(self) -> None:
        xml = (
            b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
            b"<urlset><url><loc>https://a.test/&x;</loc></url></urlset>"
        )
        _, urls = parse_sitemap(xml)
        assert all("\n" not in u and len(u) < 40 for u in urls)
