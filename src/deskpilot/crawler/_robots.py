"""robots.txt (RFC 9309, parsed by protego): whether a URL may be fetched, the crawl delay
it asks for, and the sitemaps it lists."""

from __future__ import annotations

from dataclasses import dataclass, field

from protego import Protego

from deskpilot.crawler._fetch import Fetcher, FetchError
from deskpilot.crawler._models import CrawlStats, Reason
from deskpilot.crawler._urls import normalize_url

# RFC 9309 2.5: crawlers must parse at least 500 KiB; anything past that is dropped.
_MAX_ROBOTS_BYTES = 512 * 1024


class RobotsUnavailable(Exception):
    """robots.txt answered 5xx (or 429) or not at all: RFC 9309 says assume complete
    disallow, so the crawl of that origin cannot go on."""


@dataclass(frozen=True, slots=True)
class RobotsRules:
    token: str
    parser: Protego | None = None  # None: no robots.txt, everything allowed
    sitemaps: tuple[str, ...] = field(default=())

    def allows(self, url: str) -> bool:
        return self.parser is None or self.parser.can_fetch(url, self.token)

    def crawl_delay(self) -> float | None:
        """Seconds between requests asked for by Crawl-delay or Request-rate."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(self.token)
        rate = self.parser.request_rate(self.token)
        if rate is not None and rate.requests > 0:
            per_request = rate.seconds / rate.requests
            delay = per_request if delay is None else max(delay, per_request)
        return delay


async def fetch_robots(
    fetcher: Fetcher, origin: str, token: str, *, stats: CrawlStats | None = None
) -> RobotsRules:
    url = f"{origin}/robots.txt"
    try:
        fetched = await fetcher.fetch(url, max_bytes=_MAX_ROBOTS_BYTES, truncate=True, stats=stats)
    except FetchError as exc:
        if exc.reason is Reason.TOO_MANY_REDIRECTS:
            # RFC 9309 2.3.1.2: past five redirects robots.txt counts as unavailable (4xx).
            return RobotsRules(token)
        raise RobotsUnavailable(f"{url}: {exc.message}") from exc
    status = fetched.status
    if status == 429 or status >= 500:
        raise RobotsUnavailable(f"{url} answered HTTP {status}")
    if status != 200:
        # 4xx (and odd statuses): no rules, everything may be crawled.
        return RobotsRules(token)
    text = fetched.body.decode("utf-8", errors="replace")
    parser = Protego.parse(text)
    sitemaps = tuple(
        dict.fromkeys(u for s in parser.sitemaps if (u := normalize_url(s, url)) is not None)
    )
    return RobotsRules(token, parser, sitemaps)
