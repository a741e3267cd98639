"""The client's address: the TCP peer, or, behind a trusted proxy, the first untrusted hop
of X-Forwarded-For read right to left. Headers from untrusted peers are ignored."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from deskpilot.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def resolve_client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    address = _parse(peer) if peer else None
    if address is None or not forwarded_for or not _trusted(address, trusted_proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _parse(hop)
        if hop_address is None:
            return address  # malformed chain: stop at the last trustworthy hop
        if not _trusted(hop_address, trusted_proxies):
            return hop_address
        address = hop_address
    return address


def allowed(address: IPAddress | None, allow_list: Sequence[str]) -> bool:
    """No list means any address; a list admits matching single addresses or CIDRs."""
    if not allow_list:
        return True
    if address is None:
        return False
    for entry in allow_list:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
