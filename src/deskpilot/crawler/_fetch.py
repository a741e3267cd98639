"""HTTP fetching for the crawler: one httpx client behind the SSRF guard, per-host
concurrency and politeness delay, retries with backoff (Retry-After honoured), a streamed
size cap, and redirects followed one hop at a time so each hop can be refused."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Self

import httpx
import structlog

from deskpilot.crawler._errors import BlockedAddressError
from deskpilot.crawler._models import CrawlerOptions, CrawlStats, Reason
from deskpilot.crawler._ssrf import AddressPolicy, Resolver, guarded_transport, tls_context
from deskpilot.crawler._urls import normalize_url

log = structlog.get_logger()

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONDITIONAL = ("if-none-match", "if-modified-since")
_ACCEPT = (
    "text/html,application/xhtml+xml;q=0.9,text/markdown;q=0.8,text/plain;q=0.8,"
    "application/pdf;q=0.7,*/*;q=0.1"
)

# Decides whether a redirect hop may be followed: None to follow, else why not.
RedirectCheck = Callable[[str], str | None]


class FetchError(Exception):
    """A request that produced no usable response (after retries where they apply)."""

    def __init__(self, reason: Reason, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


class RedirectRefused(Exception):
    def __init__(self, source: str, target: str, why: str, status: int) -> None:
        super().__init__(f"redirects to {target}: {why}")
        self.source = source
        self.target = target
        self.why = why
        self.status = status


class _TooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # the URL that answered, after redirects (normalised)
    status: int
    headers: httpx.Headers
    body: bytes  # read for 2xx only
    redirected_from: tuple[str, ...] = ()
    truncated: bool = False


class _HostGate:
    """Per-host politeness: at most `limit` requests in flight, request starts at least
    `delay` apart, and a pause after a 429/503 that every worker waits out."""

    def __init__(self, limit: int, delay: float) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._lock = asyncio.Lock()
        self._next_start = 0.0
        self.delay = delay

    def pause_until(self, when: float) -> None:
        self._next_start = max(self._next_start, when)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            async with self._lock:
                wait = self._next_start - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_start = time.monotonic() + self.delay
            yield


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Fetcher:
    """Owns the HTTP client; share one per process so host limits hold across crawls."""

    def __init__(
        self,
        options: CrawlerOptions,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        policy = AddressPolicy(
            allow_private_networks=options.allow_private_networks,
            allowed_networks=options.allowed_networks,
        )
        self._client = httpx.AsyncClient(
            transport=transport
            or guarded_transport(
                policy,
                resolver=resolver,
                max_connections=max(10, options.per_host_concurrency * 8),
                ssl_context=tls_context(verify=options.verify_tls, ca_bundle=options.ca_bundle),
            ),
            headers={"User-Agent": options.user_agent, "Accept": _ACCEPT},
            timeout=httpx.Timeout(
                connect=options.connect_timeout_seconds,
                read=options.read_timeout_seconds,
                write=options.read_timeout_seconds,
                pool=options.request_timeout_seconds,
            ),
            follow_redirects=False,
            trust_env=False,
        )
        # Cookies would leak one crawl's session into another org's crawl of the same host.
        self._client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._gates: dict[str, _HostGate] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = _HostGate(
                self.options.per_host_concurrency, self.options.politeness_delay_seconds
            )
            self._gates[host] = gate
        return gate

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        """Apply a robots.txt Crawl-delay (capped) on top of the politeness delay."""
        delay = self.options.politeness_delay_seconds
        if seconds is not None and seconds > 0:
            delay = max(delay, min(seconds, self.options.max_crawl_delay_seconds))
        self.gate(host).delay = delay

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        truncate: bool = False,
        check_redirect: RedirectCheck | None = None,
        stats: CrawlStats | None = None,
    ) -> Fetched:
        """GET `url`, following redirects one checked hop at a time.

        Raises FetchError when no usable response came, RedirectRefused when a hop is
        refused by `check_redirect`. Non-2xx responses are returned, not raised.
        """
        current = url
        hops: list[str] = []
        request_headers = dict(headers or {})
        limit = self.options.max_redirects
        while True:
            status, response_headers, body, truncated = await self._request_with_retries(
                current,
                request_headers,
                max_bytes or self.options.max_response_bytes,
                truncate,
                stats,
            )
            location = response_headers.get("location")
            if status not in _REDIRECTS or not location:
                return Fetched(current, status, response_headers, body, tuple(hops), truncated)
            target = normalize_url(location, current)
            if target is None:
                raise FetchError(
                    Reason.HTTP_ERROR,
                    f"redirect to a non-http URL: {location[:200]}",
                    status=status,
                )
            if check_redirect is not None:
                why = check_redirect(target)
                if why is not None:
                    raise RedirectRefused(current, target, why, status)
            hops.append(current)
            if target in hops or len(hops) > limit:
                raise FetchError(
                    Reason.TOO_MANY_REDIRECTS,
                    f"more than {limit} redirects or a redirect loop (last hop {target})",
                    status=status,
                )
            # Validators belong to the URL they were stored for, not to the next hop.
            request_headers = {
                k: v for k, v in request_headers.items() if k.lower() not in _CONDITIONAL
            }
            current = target

    async def _request_with_retries(
        self,
        url: str,
        headers: Mapping[str, str],
        max_bytes: int,
        truncate: bool,
        stats: CrawlStats | None,
    ) -> tuple[int, httpx.Headers, bytes, bool]:
        options = self.options
        host = httpx.URL(url).netloc.decode("ascii")
        gate = self.gate(host)
        attempt = 0
        while True:
            if stats is not None:
                stats.requests += 1
                stats.retries += 1 if attempt else 0
            failure: FetchError
            try:
                async with gate.slot():
                    status, response_headers, body, truncated = await self._request(
                        url, headers, max_bytes, truncate
                    )
            except BlockedAddressError as exc:
                raise FetchError(Reason.BLOCKED_ADDRESS, str(exc)) from exc
            except _TooLarge as exc:
                raise FetchError(Reason.TOO_LARGE, str(exc)) from exc
            except httpx.DecodingError as exc:
                raise FetchError(Reason.INVALID_CONTENT, f"undecodable body: {exc}") from exc
            except (httpx.TimeoutException, TimeoutError) as exc:
                failure = FetchError(Reason.TIMEOUT, f"timed out: {type(exc).__name__}")
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = FetchError(Reason.CONNECTION, f"{type(exc).__name__}: {exc}"[:300])
            except httpx.HTTPError as exc:
                raise FetchError(Reason.CONNECTION, f"{type(exc).__name__}: {exc}"[:300]) from exc
            else:
                if stats is not None:
                    stats.bytes_received += len(body)
                if status not in _RETRY_STATUSES or attempt >= options.max_retries:
                    return status, response_headers, body, truncated
                wait = _retry_after(response_headers) if status in (429, 503) else None
                if wait is not None:
                    if wait > options.max_retry_after_seconds:
                        if status == 429:
                            raise FetchError(
                                Reason.RATE_LIMITED,
                                f"rate limited: Retry-After {wait:.0f} s exceeds the cap",
                                status=status,
                            )
                        return status, response_headers, body, truncated
                    # The whole host asked for a pause, not just this request.
                    gate.pause_until(time.monotonic() + wait)
                else:
                    wait = self._backoff(attempt)
                attempt += 1
                log.debug("crawler.retry", url=url, status=status, wait=round(wait, 2))
                await asyncio.sleep(wait)
                continue
            if attempt >= options.max_retries:
                raise failure
            wait = self._backoff(attempt)
            attempt += 1
            log.debug("crawler.retry", url=url, error=failure.message, wait=round(wait, 2))
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.options.retry_backoff_max_seconds,
            self.options.retry_backoff_seconds * (2.0**attempt),
        )
        # "Equal jitter": always some wait, never a synchronised herd.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not security

    async def _request(
        self, url: str, headers: Mapping[str, str], max_bytes: int, truncate: bool
    ) -> tuple[int, httpx.Headers, bytes, bool]:
        async with asyncio.timeout(self.options.request_timeout_seconds):
            request = self._client.build_request("GET", url, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                status = response.status_code
                if not 200 <= status < 300 or status == 204:
                    return status, response.headers, b"", False
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes and not truncate:
                    raise _TooLarge(f"declared {declared} bytes, cap {max_bytes}")
                chunks: list[bytes] = []
                received = 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > max_bytes:
                        if truncate:
                            chunks.append(chunk[: max_bytes - (received - len(chunk))])
                            return status, response.headers, b"".join(chunks), True
                        raise _TooLarge(f"body exceeds the cap of {max_bytes} bytes")
                    chunks.append(chunk)
                return status, response.headers, b"".join(chunks), False
            finally:
                await response.aclose()
