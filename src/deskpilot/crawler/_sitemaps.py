"""Sitemap discovery: the `Sitemap:` lines of robots.txt or the usual locations, sitemap
index files, gzip, XML and plain-text sitemaps (sitemaps.org), read with lxml safely."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterable

import structlog
from lxml import etree

from deskpilot.crawler._fetch import Fetcher, FetchError
from deskpilot.crawler._models import CrawlStats
from deskpilot.crawler._urls import normalize_url

log = structlog.get_logger()

# sitemaps.org caps a sitemap at 50 MB uncompressed.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    # max_length bounds a decompression bomb; what does not fit is dropped.
    return inflater.decompress(data, limit)


def parse_sitemap(data: bytes) -> tuple[bool, list[str]]:
    """(is_index, locations) of one sitemap file: XML urlset or sitemapindex, an RSS or
    Atom feed, or plain text with one URL per line."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, MAX_SITEMAP_BYTES)
    head = data.lstrip()[:1]
    if head != b"<":
        lines = data.decode("utf-8", errors="replace").splitlines()
        return False, [line.strip() for line in lines if line.strip().startswith("http")]
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return False, []
    if root is None:
        return False, []
    kind = etree.QName(root).localname.lower()
    if kind in ("sitemapindex", "urlset"):
        locations = [(el.text or "").strip() for el in root.iter("{*}loc", "loc")]
        return kind == "sitemapindex", [loc for loc in locations if loc]
    if kind == "rss":
        return False, [(el.text or "").strip() for el in root.iter("link") if el.text]
    if kind == "feed":
        return False, [el.get("href", "") for el in root.iter("{*}link") if el.get("href")]
    return False, []


async def collect_sitemap_urls(
    fetcher: Fetcher,
    candidates: Iterable[str],
    *,
    accept: Callable[[str], bool],
    limit: int,
    max_files: int,
    stats: CrawlStats | None = None,
) -> tuple[list[str], list[str]]:
    """Page URLs listed by the sitemaps reachable from `candidates` (index files followed
    breadth-first), keeping those `accept` takes, up to `limit`. Also returns the sitemap
    files actually read. A missing or broken sitemap is not an error."""
    queue = deque(candidates)
    seen_files: set[str] = set()
    read: list[str] = []
    urls: dict[str, None] = {}
    while queue and len(seen_files) < max_files and len(urls) < limit:
        sitemap = queue.popleft()
        if sitemap in seen_files:
            continue
        seen_files.add(sitemap)
        try:
            fetched = await fetcher.fetch(sitemap, max_bytes=MAX_SITEMAP_BYTES, stats=stats)
        except FetchError as exc:
            log.info("crawler.sitemap_failed", url=sitemap, error=exc.message)
            continue
        if fetched.status != 200:
            continue
        try:
            is_index, locations = parse_sitemap(fetched.body)
        except (zlib.error, ValueError) as exc:
            log.info("crawler.sitemap_unreadable", url=sitemap, error=repr(exc))
            continue
        if locations:
            read.append(sitemap)
        for location in locations:
            url = normalize_url(location, fetched.url)
            if url is None:
                continue
            if is_index:
                if url not in seen_files:
                    queue.append(url)
            elif url not in urls and accept(url):
                urls[url] = None
                if len(urls) >= limit:
                    break
    return list(urls), read
