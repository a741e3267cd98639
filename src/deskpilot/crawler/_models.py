"""The crawler's vocabulary: what to crawl (`CrawlSpec`), how (`CrawlerOptions`), what the
caller already knows (`KnownPage`), and what comes back (`PageResult`, `CrawlSummary`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from deskpilot.documents import ExtractedPage

ROBOTS_AGENT = "deskpilotbot"
DEFAULT_USER_AGENT = "Mozilla/5.0 (compatible; deskpilotbot/1.0)"


@dataclass(frozen=True, slots=True)
class CrawlSpec:
    """One site to crawl: a datasource's rules (API.md 3.2)."""

    start_url: str
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    page_limit: int = 100

    def __post_init__(self) -> None:
        if self.page_limit < 1:
            raise ValueError("page_limit must be at least 1")


@dataclass(frozen=True, slots=True)
class CrawlerOptions:
    """Install-wide behaviour, filled from the CRAWLER_* settings."""

    user_agent: str = DEFAULT_USER_AGENT
    # The product token robots.txt groups are matched against.
    robots_agent: str = ROBOTS_AGENT
    allow_private_networks: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Pages in flight per crawl, and requests in flight per host across all crawls.
    concurrency: int = 4
    per_host_concurrency: int = 2
    # Minimum gap between two request starts on one host; robots.txt Crawl-delay raises it,
    # up to max_crawl_delay_seconds.
    politeness_delay_seconds: float = 0.25
    max_crawl_delay_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 20.0
    # The whole request, body included: a server dripping bytes cannot hold a worker.
    request_timeout_seconds: float = 60.0
    max_response_bytes: int = 10 * 1024 * 1024
    max_retries: int = 3
    retry_backoff_seconds: float = 0.5
    retry_backoff_max_seconds: float = 30.0
    # A Retry-After longer than this fails the page instead of parking a worker.
    max_retry_after_seconds: float = 120.0
    max_redirects: int = 10
    use_sitemaps: bool = True
    max_sitemap_files: int = 50
    extract_pdf: bool = True
    verify_tls: bool = True
    # PEM file of roots trusted on top of certifi's, for intranet sites with a private CA.
    ca_bundle: str | None = None
    # HTML pages with next to no text and a script are loaded in the system's headless
    # Chromium (see _render.py); pages in the browser at once, across all crawls.
    render_js: bool = False
    chromium_path: str = "/usr/bin/chromium"
    render_timeout_seconds: float = 15.0
    render_concurrency: int = 2


@dataclass(frozen=True, slots=True)
class KnownPage:
    """A page the caller stored on an earlier crawl: its validators make the re-crawl send a
    conditional request, its hash tells unchanged from updated."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None


class PageOutcome(StrEnum):
    NEW = "new"  # not known before; `page` holds its content
    UPDATED = "updated"  # known, content hash changed; `page` holds the new content
    UNCHANGED = "unchanged"  # 304, or the same content hash; `page` is None
    GONE = "gone"  # 404 or 410: remove it
    SKIPPED = "skipped"  # not a page to keep (see `reason`): remove it if stored
    FAILED = "failed"  # could not be fetched now (see `reason`): keep what was stored


class Reason(StrEnum):
    # SKIPPED
    ROBOTS = "robots"  # robots.txt disallows it
    OUT_OF_SCOPE = "out_of_scope"  # other site, outside the start path, or excluded by a rule
    PAGE_LIMIT = "page_limit"  # a known page that no longer fits under page_limit
    REDIRECT = "redirect"  # moved to `target_url` (followed only when in scope)
    CANONICAL = "canonical"  # declares `target_url` as its canonical URL
    DUPLICATE = "duplicate"  # same content as `target_url`
    NOINDEX = "noindex"  # meta robots or X-Robots-Tag says noindex
    UNSUPPORTED_TYPE = "unsupported_type"  # not HTML, text, Markdown or PDF
    NO_CONTENT = "no_content"  # no main text (an index page, or JavaScript-built unrendered)
    # FAILED
    BLOCKED_ADDRESS = "blocked_address"  # SSRF guard: private, loopback, metadata...
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_ERROR = "http_error"  # 4xx other than 404/410, or 5xx after retries
    RATE_LIMITED = "rate_limited"  # 429 with a Retry-After beyond the cap
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    ROBOTS_UNAVAILABLE = "robots_unavailable"  # robots.txt answered 5xx or not at all
    INVALID_CONTENT = "invalid_content"  # the body could not be read
    INTERNAL = "internal"  # a crawler bug on this page (logged); the crawl went on


@dataclass(frozen=True, slots=True)
class PageResult:
    """What the crawl learnt about one URL. `url` is the key the caller stores pages under;
    one fetch can yield two results (a redirect or canonical source, then its target)."""

    url: str
    outcome: PageOutcome
    reason: Reason | None = None
    # Where a REDIRECT, CANONICAL or DUPLICATE points.
    target_url: str | None = None
    http_status: int | None = None
    page: ExtractedPage | None = None
    content_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    body_bytes: int | None = None
    error: str | None = None
    # In-scope URLs this page added to the frontier, for a caller that persists the frontier
    # (so a resumed crawl can be seeded with them).
    discovered: tuple[str, ...] = ()
    # `page` is what headless Chromium showed after the page's scripts ran. Such a result
    # carries no etag or last_modified: the next crawl fetches and renders it again, since
    # its text comes from requests a 304 on the HTML would not cover.
    rendered: bool = False


class CrawlStatus(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"  # could not proceed: see `CrawlSummary.error`


@dataclass(slots=True)
class CrawlStats:
    """Live counters of a running crawl."""

    # In-scope URLs admitted to the frontier (capped by page_limit): API's total_pages.
    admitted: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    gone: int = 0
    skipped: int = 0
    failed: int = 0
    sitemap_urls: int = 0
    requests: int = 0
    retries: int = 0
    bytes_received: int = 0
    # Pages whose text came from headless Chromium.
    rendered: int = 0
    hit_page_limit: bool = False

    def count(self, result: PageResult) -> None:
        match result.outcome:
            case PageOutcome.NEW:
                self.new += 1
            case PageOutcome.UPDATED:
                self.updated += 1
            case PageOutcome.UNCHANGED:
                self.unchanged += 1
            case PageOutcome.GONE:
                self.gone += 1
            case PageOutcome.SKIPPED:
                self.skipped += 1
            case PageOutcome.FAILED:
                self.failed += 1


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    status: CrawlStatus
    stats: CrawlStats
    error: str | None = None
    sitemaps: tuple[str, ...] = field(default=())
