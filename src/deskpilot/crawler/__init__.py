"""Website crawler: a start URL and its rules in, clean pages out, page by page.

No database and no web framework in here: the crawl job layer drives a `Crawler`, persists
each `PageResult` as it arrives, and hands known pages back in for incremental re-crawls.

    async with Crawler(CrawlerOptions(allow_private_networks=False)) as crawler:
        spec = CrawlSpec("https://docs.example.com/", include_paths=("/guide",))
        async with crawler.crawl(spec, known=known, pending=pending, done=done) as run:
            async for result in run:  # one PageResult per URL, as pages finish
                ...                   # store by result.url; run.cancel() to stop
        run.summary                   # COMPLETED, CANCELLED or FAILED (+ error)

Outcomes are statements about `result.url`: NEW / UPDATED carry the page, UNCHANGED means
keep it (304 or same hash), GONE and SKIPPED mean remove it if stored, FAILED means keep
what was stored and show the error. With `CrawlerOptions(render_js=True)`, HTML pages that
hold next to no text but carry a script are loaded in the system's headless Chromium
(`result.rendered`), every request the browser makes answered through the same SSRF guard.
"""

from deskpilot.crawler._crawl import Crawler, CrawlRun, check_start_url
from deskpilot.crawler._errors import BlockedAddressError, CrawlerError, InvalidURLError
from deskpilot.crawler._extract import (
    DocumentKind,
    Extraction,
    content_hash,
    document_kind,
    extract_document,
    extract_html,
)
from deskpilot.crawler._models import (
    DEFAULT_USER_AGENT,
    ROBOTS_AGENT,
    CrawlerOptions,
    CrawlSpec,
    CrawlStats,
    CrawlStatus,
    CrawlSummary,
    KnownPage,
    PageOutcome,
    PageResult,
    Reason,
)
from deskpilot.crawler._render import RENDER_BELOW_CHARS, render_unavailable
from deskpilot.crawler._scope import compile_path_pattern
from deskpilot.crawler._ssrf import AddressPolicy, Resolver
from deskpilot.crawler._urls import normalize_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "RENDER_BELOW_CHARS",
    "ROBOTS_AGENT",
    "AddressPolicy",
    "BlockedAddressError",
    "CrawlRun",
    "CrawlSpec",
    "CrawlStats",
    "CrawlStatus",
    "CrawlSummary",
    "Crawler",
    "CrawlerError",
    "CrawlerOptions",
    "DocumentKind",
    "Extraction",
    "InvalidURLError",
    "KnownPage",
    "PageOutcome",
    "PageResult",
    "Reason",
    "Resolver",
    "check_start_url",
    "compile_path_pattern",
    "content_hash",
    "document_kind",
    "extract_document",
    "extract_html",
    "normalize_url",
    "render_unavailable",
]
