"""The SSRF guard: address classification, the resolve-time check inside the connection,
and crawls refused before a single byte reaches a forbidden address."""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
import threading
from collections.abc import Sequence

import pytest

from deskpilot.crawler import (
    AddressPolicy,
    BlockedAddressError,
    Crawler,
    CrawlStatus,
    InvalidURLError,
    PageOutcome,
    Reason,
    Resolver,
    check_start_url,
)
from deskpilot.crawler._ssrf import GuardedNetworkBackend

from .conftest import Request, Response, Site, by_url, crawl_all, fast_options, loopback_only

STRICT = AddressPolicy()


class TestAddressPolicy:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "0.0.0.0",
            "::",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.10.10",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "ff02::1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::a00:1",
            "fec0::1",
            "2001:db8::1",
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        assert STRICT.refusal(address) is not None

    @pytest.mark.parametrize(
        "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"]
    )
    def test_public_addresses_pass(self, address: str) -> None:
        assert STRICT.refusal(address) is None

    @pytest.mark.parametrize(
        "address",
        [
            "169.254.169.254",
            "fd00:ec2::254",
            "100.100.100.200",
            "169.254.170.2",
            "::ffff:169.254.169.254",
        ],
    )
    def test_metadata_addresses_are_refused_even_when_private_networks_are_allowed(
        self, address: str
    ) -> None:
        assert AddressPolicy(allow_private_networks=True).refusal(address) is not None
        assert "metadata" in (STRICT.refusal(address) or "")

    def test_allowing_private_networks_opens_them(self) -> None:
        policy = AddressPolicy(allow_private_networks=True)
        assert policy.refusal("127.0.0.1") is None
        assert policy.refusal("10.0.0.1") is None

    def test_allowed_networks_open_only_themselves(self) -> None:
        policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
        assert policy.refusal("10.20.3.4") is None
        assert policy.refusal("10.21.0.1") is not None
        assert policy.refusal("127.0.0.1") is not None


def _resolver(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return table[host]

    return resolve


class TestResolveTimeCheck:
    async def test_a_name_resolving_to_a_private_address_is_refused(self) -> None:
        backend = GuardedNetworkBackend(STRICT, _resolver({"evil.test": ["10.0.0.5"]}))
        with pytest.raises(BlockedAddressError) as caught:
            await backend.connect_tcp("evil.test", 80, timeout=1)
        assert caught.value.address == "10.0.0.5"

    async def test_one_private_address_among_public_ones_refuses_the_name(self) -> None:
        backend = GuardedNetworkBackend(STRICT, _resolver({"mixed.test": ["8.8.8.8", "127.0.0.1"]}))
        with pytest.raises(BlockedAddressError):
            await backend.resolve("mixed.test", 80)

    async def test_connects_to_the_checked_address_and_keeps_the_host_header(
        self, site: Site
    ) -> None:
        # The name maps to the allowed test server; the request still names the host.
        resolver = _resolver({"docs.public.test": ["127.0.0.1"]})
        site.page("/", "Home", "<main><h1>Home</h1><p>Reached through a checked name.</p></main>")
        async with Crawler(loopback_only(), resolver=resolver) as crawler:
            results, summary = await crawl_all(crawler, f"http://docs.public.test:{site.port}/")

        assert summary.status is CrawlStatus.COMPLETED
        assert results[0].outcome is PageOutcome.NEW
        assert site.last("/").headers["host"] == f"docs.public.test:{site.port}"

    async def test_check_start_url(self) -> None:
        resolver = _resolver({"ok.test": ["93.184.216.34"], "lan.test": ["192.168.0.10"]})
        assert await check_start_url("HTTP://OK.test/a/../docs#x", resolver=resolver) == (
            "http://ok.test/docs"
        )
        with pytest.raises(BlockedAddressError):
            await check_start_url("http://lan.test/", resolver=resolver)
        assert (
            await check_start_url(
                "http://lan.test/", allow_private_networks=True, resolver=resolver
            )
            == "http://lan.test/"
        )
        with pytest.raises(InvalidURLError):
            await check_start_url("ftp://ok.test/", resolver=resolver)


class TestCrawlGuard:
    async def test_loopback_start_url_is_refused_without_any_request(self, site: Site) -> None:
        site.page("/", "Home", "<main><h1>Home</h1><p>Private.</p></main>")
        async with Crawler(fast_options(allow_private_networks=False)) as crawler:
            for url in (
                site.url("/"),
                f"http://localhost:{site.port}/",
                f"http://2130706433:{site.port}/",
            ):
                _, summary = await crawl_all(crawler, url)
                assert summary.status is CrawlStatus.FAILED
                assert summary.error is not None and "loopback" in summary.error
        assert site.requests == []

    async def test_redirect_from_an_allowed_host_to_a_private_address_is_refused(
        self, site: Site, other_site: Site
    ) -> None:
        # public.test is the allowed server (127.0.0.1); its www twin is in the crawl's scope
        # but resolves to 127.0.0.2, a live server standing in for an internal host.
        resolver = _resolver({"public.test": ["127.0.0.1"], "www.public.test": ["127.0.0.2"]})
        origin = f"http://public.test:{site.port}"
        site.page("/", "Home", '<main><h1>Home</h1><p>Links.</p><a href="/jump">j</a></main>')
        site.redirect("/jump", f"http://www.public.test:{site.port}/secret")
        other_site.page("/secret", "Secret", "<main><h1>Secret</h1><p>Internal.</p></main>")

        async with Crawler(loopback_only(), resolver=resolver) as crawler:
            results, summary = await crawl_all(crawler, origin + "/")

        jump = by_url(results)[origin + "/jump"]
        assert summary.status is CrawlStatus.COMPLETED
        assert (jump.outcome, jump.reason) == (PageOutcome.FAILED, Reason.BLOCKED_ADDRESS)
        assert jump.error is not None and "127.0.0.2" in jump.error
        assert other_site.requests == []

    async def test_a_name_rebound_to_a_private_address_is_refused_on_the_next_connection(
        self, site: Site, other_site: Site
    ) -> None:
        rebound = threading.Event()  # set once the start page has been served

        async def rebinding(host: str, port: int) -> Sequence[str]:
            return ["127.0.0.2" if rebound.is_set() else "127.0.0.1"]

        def home(_request: Request) -> Response:
            rebound.set()
            body = b'<main><h1>Home</h1><p>Links.</p><a href="/a">a</a></main>'
            # Connection: close makes the next request open (and check) a new connection.
            return Response(200, body, {"Content-Type": "text/html", "Connection": "close"})

        site.route("/", home)
        other_site.page("/a", "A", "<main><h1>A</h1><p>Internal.</p></main>")

        async with Crawler(loopback_only(), resolver=rebinding) as crawler:
            results, _ = await crawl_all(crawler, f"http://rebind.test:{site.port}/")

        a = by_url(results)[f"http://rebind.test:{site.port}/a"]
        assert a.reason is Reason.BLOCKED_ADDRESS
        assert other_site.requests == []

    async def test_only_the_allowed_network_is_opened(self, site: Site, other_site: Site) -> None:
        other_site.page("/", "Other", "<main><h1>Other</h1><p>Internal.</p></main>")
        async with Crawler(loopback_only()) as crawler:
            _, summary = await crawl_all(crawler, other_site.url("/"))
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and "127.0.0.2" in summary.error
        assert other_site.requests == []


class TestTLS:
    """The guard connects to the checked IP address, yet TLS still names the host: SNI is
    sent and the certificate is verified against the host name, not the address."""

    @staticmethod
    def _serve(cert_host: str, seen_sni: list[str | None]) -> tuple[Site, str]:
        trustme = pytest.importorskip("trustme")
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(cert_host).configure_cert(context)
        context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
        server = Site(tls=context)
        server.page("/", "Secure", "<main><h1>Secure</h1><p>Served over TLS.</p></main>")
        server.start()
        ca_file = tempfile.NamedTemporaryFile(suffix=".pem", delete=False)  # noqa: SIM115
        ca_file.write(ca.cert_pem.bytes())
        ca_file.close()
        return server, ca_file.name

    async def test_sni_and_certificate_name_are_the_host(self) -> None:
        sni: list[str | None] = []
        server, ca = self._serve("secure.test", sni)
        try:
            options = loopback_only(ca_bundle=ca)
            resolver = _resolver({"secure.test": ["127.0.0.1"]})
            async with Crawler(options, resolver=resolver) as crawler:
                results, summary = await crawl_all(crawler, f"https://secure.test:{server.port}/")
        finally:
            server.stop()
            os.unlink(ca)
        assert summary.status is CrawlStatus.COMPLETED
        assert results[0].outcome is PageOutcome.NEW
        assert set(sni) == {"secure.test"}
        assert server.last("/").headers["host"] == f"secure.test:{server.port}"

    async def test_a_certificate_for_another_name_is_rejected(self) -> None:
        server, ca = self._serve("other.test", [])
        try:
            resolver = _resolver({"secure.test": ["127.0.0.1"]})
            async with Crawler(loopback_only(ca_bundle=ca), resolver=resolver) as crawler:
                _, summary = await crawl_all(crawler, f"https://secure.test:{server.port}/")
        finally:
            server.stop()
            os.unlink(ca)
        assert summary.status is CrawlStatus.FAILED
        assert summary.error is not None and "CERTIFICATE_VERIFY_FAILED" in summary.error
        assert server.requests == []
