"""The SSRF guard: which addresses the crawler may connect to, enforced inside the HTTP
connection itself (after DNS resolution, for every request and redirect hop), so a name that
re-resolves to another address between check and connect (DNS rebinding) cannot slip by."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpcore
import httpx

from deskpilot.crawler._errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> IP address strings; tests inject one to map names onto loopback.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Instance-metadata services hand out cloud credentials: refused even on installs that allow
# private networks, since no site worth crawling lives there.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "169.254.169.253",  # AWS VPC DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS VPC DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
    )
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # An IPv6 address that carries an IPv4 one reaches that IPv4 host: judge the IPv4 one.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Decides whether an address may be connected to.

    By default only globally routable unicast addresses pass. `allow_private_networks`
    (CRAWLER_ALLOW_PRIVATE_NETWORKS) lets everything but cloud-metadata addresses through;
    `allowed_networks` opens chosen ranges (an intranet) while keeping the rest closed.
    """

    allow_private_networks: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why `address` is refused, or None when it may be used."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip in _METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata address"
        embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if embedded is not None and embedded in _METADATA_ADDRESSES:
            return f"{ip} embeds the cloud metadata address {embedded}"
        if self.allow_private_networks:
            return None
        if any(ip in net for net in self.allowed_networks):
            return None
        if embedded is not None:
            inner = self.refusal(embedded)
            return f"{ip} embeds {embedded}: {inner}" if inner else None
        return _classify(ip)


def _classify(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return f"{ip} is a carrier-grade NAT (shared) address"
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _NAT64_LOCAL):
        return f"{ip} is a site-local address"
    if ip.is_private:
        return f"{ip} is a private address"
    if ip.is_reserved or not ip.is_global:
        return f"{ip} is a reserved, non-public address"
    return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses the connection unless every address passes the
    policy, and connects to the address it checked. httpcore still sends the original host
    in the Host header and as TLS server name, so virtual hosts and certificates work."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or system_resolver
        self._inner = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses `host` may be connected to; raises BlockedAddressError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                found = await self._resolver(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(found))
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in addresses:
            # One bad address refuses the name: a record set mixing public and private
            # addresses is the usual shape of a rebinding attack.
            reason = self._policy.refusal(address)
            if reason is not None:
                raise BlockedAddressError(host, address, reason)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port, timeout)
        failure: Exception | None = None
        for address in addresses[:4]:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError(path, path, "unix sockets are never crawled")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def tls_context(*, verify: bool = True, ca_bundle: str | None = None) -> ssl.SSLContext:
    """Certificates checked against certifi's roots, plus those in `ca_bundle` (a PEM file,
    e.g. an intranet CA) when given."""
    context = httpx.create_ssl_context(verify=verify, trust_env=False)
    if ca_bundle and verify:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def guarded_transport(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    max_connections: int = 20,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through `GuardedNetworkBackend`.

    httpx has no public hook for a network backend, so the transport's connection pool is
    rebuilt with one; `trust_env` is off so an environment proxy cannot bypass the guard.
    """
    context = ssl_context or tls_context()
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=10)
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False, limits=limits)
    pool = typing.cast(object, getattr(transport, "_pool", None))
    if not isinstance(pool, httpcore.AsyncConnectionPool):  # pragma: no cover - httpx changed
        raise RuntimeError("httpx.AsyncHTTPTransport no longer wraps an AsyncConnectionPool")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(policy, resolver),
    )
    return transport
