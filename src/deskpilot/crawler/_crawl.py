"""The crawl itself: a frontier of in-scope URLs worked by a few concurrent workers, results
streamed to the caller page by page, incremental (conditional requests, content hashes),
resumable (seeded frontier, done URLs skipped) and cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
from collections.abc import Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpcore
import httpx
import structlog

from deskpilot.crawler._errors import InvalidURLError
from deskpilot.crawler._extract import (
    DocumentKind,
    Extraction,
    content_hash,
    document_kind,
    extract_document,
)
from deskpilot.crawler._fetch import Fetched, Fetcher, FetchError, RedirectRefused
from deskpilot.crawler._models import (
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
from deskpilot.crawler._render import Renderer, needs_rendering, text_size
from deskpilot.crawler._robots import RobotsRules, RobotsUnavailable, fetch_robots
from deskpilot.crawler._scope import Scope
from deskpilot.crawler._sitemaps import collect_sitemap_urls
from deskpilot.crawler._ssrf import AddressPolicy, GuardedNetworkBackend, Resolver
from deskpilot.crawler._urls import normalize_url, origin_of

log = structlog.get_logger()

# Frontier priorities: the start page, then what the caller already knows, then the site's
# own sitemaps, then links found on pages (breadth first).
_START, _KNOWN, _SITEMAP, _LINK = 0, 1, 2, 3


class Crawler:
    """Crawls sites into `PageResult`s. Owns the HTTP client (connection pool, per-host
    limits), the extraction executor and, with `render_js`, the headless browser: create
    one per process and share it.

        async with Crawler(options) as crawler:
            async with crawler.crawl(CrawlSpec("https://docs.example.com/")) as run:
                async for result in run:
                    ...  # persist; run.cancel() stops the crawl
            run.summary

    `executor` runs extraction (CPU work) off the event loop; pass a ProcessPoolExecutor to
    use more cores (everything sent to it pickles). `resolver` and `transport` are for tests:
    a custom transport bypasses the SSRF guard.
    """

    def __init__(
        self,
        options: CrawlerOptions | None = None,
        *,
        executor: Executor | None = None,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options or CrawlerOptions()
        self.fetcher = Fetcher(self.options, resolver=resolver, transport=transport)
        self._owns_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(
            max_workers=min(2, os.cpu_count() or 1), thread_name_prefix="deskpilot-extract"
        )
        self.renderer = Renderer(self.options, self.fetcher) if self.options.render_js else None

    async def aclose(self) -> None:
        if self.renderer is not None:
            await self.renderer.aclose()
        await self.fetcher.aclose()
        if self._owns_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def crawl(
        self,
        spec: CrawlSpec,
        *,
        known: Iterable[KnownPage] = (),
        pending: Iterable[str] = (),
        done: Iterable[str] = (),
        excluded: Iterable[str] = (),
    ) -> CrawlRun:
        """A crawl of `spec`, to be entered with `async with` and iterated.

        known: pages stored by earlier crawls. They are re-checked (conditional requests,
            hash comparison) and reported SKIPPED when now out of scope or over the limit.
        pending: URLs to put in the frontier, e.g. `discovered` URLs persisted by an
            interrupted run of the same job.
        done: URLs this job already finished before it was interrupted: not fetched again,
            not reported again, counted against the page limit.
        excluded: URLs the caller never wants fetched (pages excluded by hand): not fetched,
            not reported, not counted.
        """
        return CrawlRun(self, spec, known=known, pending=pending, done=done, excluded=excluded)


async def check_start_url(
    url: str,
    *,
    allow_private_networks: bool = False,
    resolver: Resolver | None = None,
) -> str:
    """Normalise a datasource URL and check that its host resolves to an address the crawler
    may use. Raises InvalidURLError or BlockedAddressError."""
    normalised = normalize_url(url)
    if normalised is None:
        raise InvalidURLError(url)
    parts = urlsplit(normalised)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    backend = GuardedNetworkBackend(
        AddressPolicy(allow_private_networks=allow_private_networks), resolver
    )
    try:
        await backend.resolve(host, port, timeout=10.0)
    except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
        raise InvalidURLError(url, f"cannot resolve {host}") from exc
    return normalised


@dataclass(order=True, slots=True)
class _Item:
    priority: int
    depth: int
    sequence: int
    url: str = field(compare=False)


class _End:
    pass


@dataclass(frozen=True, slots=True)
class _Crash:
    error: BaseException


class CrawlRun:
    """One crawl in progress: an async context manager and an async iterator of results.

    Results arrive as pages finish; the crawl waits (backpressure) while the caller is busy
    with one. Leaving the `async with` block, or `cancel()`, stops every request in flight
    at once. `summary` is set when the crawl is over.
    """

    def __init__(
        self,
        crawler: Crawler,
        spec: CrawlSpec,
        *,
        known: Iterable[KnownPage],
        pending: Iterable[str],
        done: Iterable[str],
        excluded: Iterable[str] = (),
    ) -> None:
        try:
            self._scope = Scope.build(spec.start_url, spec.include_paths, spec.exclude_paths)
        except ValueError as exc:
            raise InvalidURLError(spec.start_url) from exc
        self.spec = spec
        self.stats = CrawlStats()
        self.summary: CrawlSummary | None = None
        self._options = crawler.options
        self._fetcher = crawler.fetcher
        self._executor = crawler.executor
        self._renderer = crawler.renderer
        self._known: dict[str, KnownPage] = {}
        for page in known:
            key = normalize_url(page.url)
            if key is not None:
                self._known[key] = page
        self._pending = [u for u in (normalize_url(p) for p in pending) if u is not None]
        self._done = {u for u in (normalize_url(d) for d in done) if u is not None}
        self._excluded = {u for u in (normalize_url(e) for e in excluded) if u is not None}
        self._seen: set[str] = self._done | self._excluded  # never admitted again
        self._claimed: set[str] = self._done | self._excluded  # reported, or never to be
        self._hashes: dict[str, str] = {}
        self._robots: dict[str, RobotsRules | RobotsUnavailable] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._sitemaps: list[str] = []
        self._frontier: asyncio.PriorityQueue[_Item] = asyncio.PriorityQueue()
        self._sequence = itertools.count()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._results: asyncio.Queue[PageResult | _End | _Crash] = asyncio.Queue()
        self._room = asyncio.Semaphore(max(2, self._options.concurrency))
        self._driver: asyncio.Task[None] | None = None
        self._entered = False

    # --- caller side ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a CrawlRun can only be used once")
        self._entered = True
        self._driver = asyncio.create_task(self._drive(), name=f"crawl {self._scope.start_url}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()
            await asyncio.wait([driver])
        if self.summary is None:
            self.summary = CrawlSummary(CrawlStatus.CANCELLED, self.stats)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> PageResult:
        if self._driver is None:
            raise RuntimeError("enter the crawl with `async with` before iterating it")
        item = await self._results.get()
        if isinstance(item, _End):
            self._results.put_nowait(item)
            raise StopAsyncIteration
        if isinstance(item, _Crash):
            self._results.put_nowait(_End())
            raise item.error
        self._room.release()
        return item

    def cancel(self) -> None:
        """Stop the crawl now: requests in flight are abandoned, results already produced
        are still delivered, then iteration ends with a CANCELLED summary."""
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()

    # --- driver ------------------------------------------------------------------------

    async def _drive(self) -> None:
        log.info("crawler.started", url=self._scope.start_url, page_limit=self.spec.page_limit)
        try:
            async with (
                self._renderer.session() if self._renderer is not None else contextlib.nullcontext()
            ):
                status, error = await self._run()
        except asyncio.CancelledError:
            self.summary = CrawlSummary(
                CrawlStatus.CANCELLED, self.stats, sitemaps=tuple(self._sitemaps)
            )
            self._results.put_nowait(_End())
            log.info("crawler.cancelled", url=self._scope.start_url, fetched=self.stats.fetched)
            raise
        except Exception as exc:
            log.exception("crawler.crashed", url=self._scope.start_url)
            self.summary = CrawlSummary(CrawlStatus.FAILED, self.stats, error=f"internal: {exc!r}")
            self._results.put_nowait(_Crash(exc))
            return
        self.summary = CrawlSummary(status, self.stats, error, tuple(self._sitemaps))
        self._results.put_nowait(_End())
        log.info(
            "crawler.finished",
            url=self._scope.start_url,
            status=status.value,
            error=error,
            admitted=self.stats.admitted,
            fetched=self.stats.fetched,
            new=self.stats.new,
            updated=self.stats.updated,
            unchanged=self.stats.unchanged,
        )

    async def _run(self) -> tuple[CrawlStatus, str | None]:
        scope = self._scope
        start = scope.start_url
        try:
            rules = await self._robots_for(start)
        except RobotsUnavailable as exc:
            return CrawlStatus.FAILED, f"robots.txt unavailable: {exc}"
        if not rules.allows(start):
            return CrawlStatus.FAILED, "robots.txt disallows the start URL"

        # A one-page crawl (a resync) has no room for anything a sitemap could add.
        wants_sitemaps = self._options.use_sitemaps and self.spec.page_limit > 1
        sitemap_task = asyncio.create_task(self._read_sitemaps(rules)) if wants_sitemaps else None
        try:
            self.stats.admitted = len(self._done)
            if start not in self._done:
                # An excluded start page is still read for its links, but never reported.
                self._claimed.discard(start)
                self._seen.add(start)
                self.stats.admitted += 1
                results = await self._process(_Item(_START, 0, next(self._sequence), start))
                failure = self._start_failure(results)
                if failure is not None:
                    return CrawlStatus.FAILED, failure
            await self._admit_known()
            for url in self._pending:
                self._admit(url, _KNOWN, 1)
            async with asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(self._work())
                    for _ in range(max(1, self._options.concurrency))
                ]
                if sitemap_task is not None:
                    for url in await self._sitemap_urls(sitemap_task):
                        self._admit(url, _SITEMAP, 1)
                while self._outstanding > 0:
                    self._idle.clear()
                    await self._idle.wait()
                for worker in workers:
                    worker.cancel()
        finally:
            if sitemap_task is not None and not sitemap_task.done():
                sitemap_task.cancel()
        return CrawlStatus.COMPLETED, None

    def _start_failure(self, results: list[PageResult]) -> str | None:
        start = self._scope.start_url
        if not results:
            return None
        last = results[-1]
        if last.outcome is PageOutcome.FAILED:
            return f"start URL {start} failed: {last.error}"
        if last.outcome is PageOutcome.GONE:
            return f"start URL {start} answered HTTP {last.http_status}"
        if last.outcome is PageOutcome.SKIPPED and last.reason is Reason.ROBOTS:
            return "robots.txt disallows the start URL"
        if (
            last.outcome is PageOutcome.SKIPPED
            and last.reason is Reason.REDIRECT
            and last.target_url not in self._claimed
        ):
            return (
                f"start URL {start} redirects to {last.target_url}, outside the crawl's scope;"
                " use that URL instead"
            )
        return None

    async def _work(self) -> None:
        while True:
            item = await self._frontier.get()
            try:
                await self._process(item)
            except Exception as exc:
                # A bug on one page must not end the crawl: report it and go on.
                log.exception("crawler.page_crashed", url=item.url)
                await self._emit(
                    PageResult(
                        item.url,
                        PageOutcome.FAILED,
                        Reason.INVALID_CONTENT,
                        error=f"internal: {exc!r}",
                    )
                )
            finally:
                self._outstanding -= 1
                if self._outstanding <= 0:
                    self._idle.set()

    # --- frontier ------------------------------------------------------------------------

    def _admit(self, url: str, priority: int, depth: int) -> bool:
        """Queue `url` if it is in scope, allowed, new, and under the page limit."""
        if url in self._seen:
            return False
        if self._scope.refusal(url) is not None:
            self._seen.add(url)
            return False
        rules = self._robots.get(origin_of(url))
        if isinstance(rules, RobotsRules) and not rules.allows(url):
            self._seen.add(url)
            return False
        if self.stats.admitted >= self.spec.page_limit:
            self.stats.hit_page_limit = True
            return False
        self._seen.add(url)
        self.stats.admitted += 1
        self._outstanding += 1
        self._frontier.put_nowait(_Item(priority, depth, next(self._sequence), url))
        return True

    async def _admit_known(self) -> None:
        for url in self._known:
            if url in self._seen:
                continue
            why = self._scope.refusal(url)
            rules = self._robots.get(origin_of(url))
            if why is not None:
                self._settle(url)
                await self._emit(
                    PageResult(url, PageOutcome.SKIPPED, Reason.OUT_OF_SCOPE, error=why)
                )
            elif isinstance(rules, RobotsRules) and not rules.allows(url):
                self._settle(url)
                await self._emit(PageResult(url, PageOutcome.SKIPPED, Reason.ROBOTS))
            elif not self._admit(url, _KNOWN, 1):
                self._settle(url)
                await self._emit(
                    PageResult(
                        url,
                        PageOutcome.SKIPPED,
                        Reason.PAGE_LIMIT,
                        error=f"beyond the page limit of {self.spec.page_limit}",
                    )
                )

    def _settle(self, url: str) -> None:
        self._seen.add(url)
        self._claimed.add(url)

    async def _read_sitemaps(self, rules: RobotsRules) -> list[str]:
        origin = origin_of(self._scope.start_url)
        candidates = list(rules.sitemaps)
        if not candidates:
            candidates = [f"{origin}/sitemap.xml"]
            if self._scope.path_prefix.rstrip("/"):
                candidates.insert(0, f"{origin}{self._scope.path_prefix.rstrip('/')}/sitemap.xml")
        urls, read = await collect_sitemap_urls(
            self._fetcher,
            candidates,
            accept=lambda url: self._scope.refusal(url) is None,
            limit=self.spec.page_limit * 2 + 100,
            max_files=self._options.max_sitemap_files,
            stats=self.stats,
        )
        self._sitemaps = read
        self.stats.sitemap_urls = len(urls)
        return urls

    async def _sitemap_urls(self, task: asyncio.Task[list[str]]) -> list[str]:
        try:
            return await task
        except Exception:
            # Sitemaps only add URLs: a broken one must not stop the crawl.
            log.exception("crawler.sitemaps_failed", url=self._scope.start_url)
            return []

    async def _robots_for(self, url: str) -> RobotsRules:
        origin = origin_of(url)
        cached = self._robots.get(origin)
        if cached is None:
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:
                cached = self._robots.get(origin)
                if cached is None:
                    try:
                        cached = await fetch_robots(
                            self._fetcher, origin, self._options.robots_agent, stats=self.stats
                        )
                        self._fetcher.set_crawl_delay(urlsplit(origin).netloc, cached.crawl_delay())
                    except RobotsUnavailable as exc:
                        cached = exc
                    self._robots[origin] = cached
        if isinstance(cached, RobotsUnavailable):
            raise cached
        return cached

    async def _robots_allow(self, url: str) -> bool:
        # A redirect may land on the www twin, whose robots.txt has not been read yet.
        try:
            return (await self._robots_for(url)).allows(url)
        except RobotsUnavailable:
            return False

    def _redirect_check(self, target: str, *, is_start: bool) -> str | None:
        # The start URL may land anywhere on its site (`/` -> `/en/`); other pages must stay
        # inside the include/exclude rules too.
        if is_start:
            why = None if self._scope.on_site(target) else "outside the start URL's site"
        else:
            why = self._scope.refusal(target)
        if why is not None:
            return why
        rules = self._robots.get(origin_of(target))
        if isinstance(rules, RobotsRules) and not rules.allows(target):
            return "disallowed by robots.txt"
        return None

    # --- one page ------------------------------------------------------------------------

    async def _emit(self, result: PageResult) -> PageResult:
        if result.url in self._excluded:
            return result
        self.stats.count(result)
        await self._room.acquire()
        self._results.put_nowait(result)
        return result

    async def _process(self, item: _Item) -> list[PageResult]:
        url = item.url
        if url in self._claimed:
            return []  # reported with another page's fetch (a redirect or canonical target)
        self._claimed.add(url)
        is_start = item.priority == _START
        try:
            rules = await self._robots_for(url)
        except RobotsUnavailable as exc:
            failed = PageResult(url, PageOutcome.FAILED, Reason.ROBOTS_UNAVAILABLE, error=str(exc))
            return [await self._emit(failed)]
        if not rules.allows(url):
            return [await self._emit(PageResult(url, PageOutcome.SKIPPED, Reason.ROBOTS))]

        known = self._known.get(url)
        headers: dict[str, str] = {}
        # The start page is always fetched in full: its links seed the whole crawl.
        if known is not None and not is_start:
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        self.stats.fetched += 1
        try:
            fetched = await self._fetcher.fetch(
                url,
                headers=headers,
                check_redirect=functools.partial(self._redirect_check, is_start=is_start),
                stats=self.stats,
            )
        except RedirectRefused as exc:
            result = PageResult(
                url,
                PageOutcome.SKIPPED,
                Reason.REDIRECT,
                target_url=exc.target,
                http_status=exc.status,
                error=f"redirect not followed: {exc.why}",
            )
            return [await self._emit(result)]
        except FetchError as exc:
            failed = PageResult(
                url, PageOutcome.FAILED, exc.reason, http_status=exc.status, error=exc.message
            )
            return [await self._emit(failed)]

        emitted: list[PageResult] = []
        if fetched.url != url:
            # The page moved: the old URL is reported as a redirect, the content under the
            # URL that served it (unless that one was already reported).
            moved = PageResult(url, PageOutcome.SKIPPED, Reason.REDIRECT, target_url=fetched.url)
            emitted.append(await self._emit(moved))
            if fetched.url in self._claimed:
                return emitted
            self._claimed.add(fetched.url)
            self._seen.add(fetched.url)
            if not await self._robots_allow(fetched.url):
                skipped = PageResult(fetched.url, PageOutcome.SKIPPED, Reason.ROBOTS)
                emitted.append(await self._emit(skipped))
                return emitted
        emitted.extend(await self._handle_response(fetched, item, is_start=is_start))
        return emitted

    async def _handle_response(
        self, fetched: Fetched, item: _Item, *, is_start: bool
    ) -> list[PageResult]:
        url = fetched.url
        known = self._known.get(url)
        status = fetched.status
        headers = fetched.headers
        etag = headers.get("etag")
        last_modified = headers.get("last-modified")
        if status == 304 and known is not None:
            if known.content_hash:
                self._hashes.setdefault(known.content_hash, url)
            result = PageResult(
                url,
                PageOutcome.UNCHANGED,
                http_status=304,
                content_hash=known.content_hash,
                etag=etag or known.etag,
                last_modified=last_modified or known.last_modified,
            )
            return [await self._emit(result)]
        if status in (404, 410):
            return [await self._emit(PageResult(url, PageOutcome.GONE, http_status=status))]
        if not 200 <= status < 300 or status == 204:
            failed = PageResult(
                url,
                PageOutcome.FAILED,
                Reason.HTTP_ERROR,
                http_status=status,
                error=f"HTTP {status}",
            )
            return [await self._emit(failed)]

        content_type = headers.get("content-type")
        base = PageResult(
            url,
            PageOutcome.SKIPPED,
            http_status=status,
            etag=etag,
            last_modified=last_modified,
            content_type=content_type,
            body_bytes=len(fetched.body),
        )
        kind = document_kind(content_type, url, fetched.body)
        if kind is None:
            return [
                await self._emit(replace(base, reason=Reason.UNSUPPORTED_TYPE, error=content_type))
            ]
        try:
            extraction = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                functools.partial(
                    extract_document, fetched.body, url, content_type, pdf=self._options.extract_pdf
                ),
            )
        except Exception as exc:
            log.warning("crawler.extract_failed", url=url, error=repr(exc))
            failed = replace(
                base,
                outcome=PageOutcome.FAILED,
                reason=Reason.INVALID_CONTENT,
                error=repr(exc)[:300],
            )
            return [await self._emit(failed)]
        if extraction is None:
            return [
                await self._emit(replace(base, reason=Reason.UNSUPPORTED_TYPE, error=content_type))
            ]
        if (
            self._renderer is not None
            and kind is DocumentKind.HTML
            and needs_rendering(fetched.body, extraction)
        ):
            rendered = await self._rendered(fetched, extraction)
            if rendered is not None:
                extraction = rendered
                base = replace(base, rendered=True, etag=None, last_modified=None)
        return await self._handle_extraction(extraction, base, item, headers, is_start=is_start)

    async def _rendered(self, fetched: Fetched, extraction: Extraction) -> Extraction | None:
        """The page as headless Chromium shows it, when that holds more text."""
        assert self._renderer is not None
        url = fetched.url
        try:
            html = await self._renderer.render(
                fetched, allow_resource=self._resource_allowed, stats=self.stats
            )
        except Exception:
            # Rendering only ever adds to a page: a bug in it must not cost the page.
            log.exception("crawler.render_crashed", url=url)
            return None
        if html is None:
            return None
        try:
            rendered = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                functools.partial(
                    extract_document,
                    html.encode(errors="replace"),
                    url,
                    "text/html; charset=utf-8",
                    pdf=False,
                ),
            )
        except Exception as exc:
            log.warning("crawler.extract_failed", url=url, rendered=True, error=repr(exc))
            return None
        if rendered is None or text_size(rendered) <= text_size(extraction):
            log.info("crawler.render_discarded", url=url, reason="no more text than the HTML")
            return None
        self.stats.rendered += 1
        # Links of both: a script may replace the server's links with its router's.
        links = tuple(dict.fromkeys((*rendered.page.links, *extraction.page.links)))
        return replace(rendered, page=replace(rendered.page, links=links))

    def _resource_allowed(self, url: str) -> bool:
        # A rendered page's own scripts and data calls honour the robots.txt already read
        # (its site's); other origins' robots.txt are not fetched for a script.
        rules = self._robots.get(origin_of(url))
        return not isinstance(rules, RobotsRules) or rules.allows(url)

    async def _handle_extraction(
        self,
        extraction: Extraction,
        base: PageResult,
        item: _Item,
        headers: httpx.Headers,
        *,
        is_start: bool,
    ) -> list[PageResult]:
        url = base.url
        page = extraction.page
        directives = _header_directives(headers, self._options.robots_agent)
        nofollow = extraction.nofollow or "nofollow" in directives
        discovered: list[str] = []
        if not nofollow:
            discovered = [link for link in page.links if self._admit(link, _LINK, item.depth + 1)]

        if extraction.refresh_url is not None and extraction.refresh_url != url:
            target = extraction.refresh_url
            if self._admit(target, _LINK, item.depth + 1):
                discovered.append(target)
            moved = replace(
                base, reason=Reason.REDIRECT, target_url=target, discovered=tuple(discovered)
            )
            return [await self._emit(moved)]
        if extraction.noindex or "noindex" in directives:
            return [
                await self._emit(replace(base, reason=Reason.NOINDEX, discovered=tuple(discovered)))
            ]
        if is_start and not self._scope.passes_rules(url):
            # Fetched for its links only: the start page itself is outside the rules.
            skipped = replace(
                base,
                reason=Reason.OUT_OF_SCOPE,
                error="excluded by the include/exclude paths",
                discovered=tuple(discovered),
            )
            return [await self._emit(skipped)]

        emitted: list[PageResult] = []
        canonical = page.canonical_url
        if canonical is not None and canonical != url and self._canonical_usable(canonical, url):
            pointer = replace(
                base, reason=Reason.CANONICAL, target_url=canonical, discovered=tuple(discovered)
            )
            if canonical in self._claimed:
                return [await self._emit(pointer)]
            emitted.append(await self._emit(pointer))
            discovered = []
            self._claimed.add(canonical)
            self._seen.add(canonical)
            url = canonical
            page = replace(page, url=canonical)
            base = replace(base, url=canonical)

        if not page.sections:
            skipped = replace(base, reason=Reason.NO_CONTENT, discovered=tuple(discovered))
            return [*emitted, await self._emit(skipped)]
        digest = extraction.content_hash or content_hash(page)
        twin = self._hashes.setdefault(digest, url)
        if twin != url:
            duplicate = replace(
                base, reason=Reason.DUPLICATE, target_url=twin, discovered=tuple(discovered)
            )
            return [*emitted, await self._emit(duplicate)]
        known = self._known.get(url)
        if known is None or known.content_hash is None:
            outcome = PageOutcome.NEW
        elif known.content_hash == digest:
            outcome = PageOutcome.UNCHANGED
        else:
            outcome = PageOutcome.UPDATED
        result = replace(
            base,
            outcome=outcome,
            page=None if outcome is PageOutcome.UNCHANGED else page,
            content_hash=digest,
            discovered=tuple(discovered),
        )
        return [*emitted, await self._emit(result)]

    def _canonical_usable(self, canonical: str, url: str) -> bool:
        if self._scope.refusal(canonical) is not None:
            return False
        rules = self._robots.get(origin_of(canonical))
        if isinstance(rules, RobotsRules) and not rules.allows(canonical):
            return False
        # A site-wide `canonical` to the home page is a common template bug: ignore it.
        return not (urlsplit(canonical).path in ("", "/") and urlsplit(url).path not in ("", "/"))


def _header_directives(headers: httpx.Headers, token: str) -> set[str]:
    """X-Robots-Tag directives that apply to us (unprefixed, or prefixed with our token)."""
    directives: set[str] = set()
    for value in headers.get_list("x-robots-tag"):
        agent: str | None = None
        for part in value.split(","):
            name, sep, rest = part.partition(":")
            if sep and name.strip().lower() not in (
                "unavailable_after",
                "max-snippet",
                "max-image-preview",
                "max-video-preview",
            ):
                agent, part = name.strip().lower(), rest
            if agent in (None, "*", token):
                directives.add(part.strip().lower())
    if "none" in directives:
        directives.update({"noindex", "nofollow"})
    return directives
