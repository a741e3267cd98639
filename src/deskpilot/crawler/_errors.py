"""The crawler's exceptions. Per-page trouble is never raised: it is a `PageResult`.

CrawlerError
 ├── InvalidURLError        not an http(s) URL the crawler can fetch
 └── BlockedAddressError    the host resolves to an address the SSRF policy refuses
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of the crawler's exceptions."""


class InvalidURLError(CrawlerError, ValueError):
    def __init__(self, url: str, reason: str = "not an http(s) URL") -> None:
        super().__init__(f"{reason}: {url!r}")
        self.url = url
        self.reason = reason


class BlockedAddressError(CrawlerError):
    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"refused to connect to {host}: {reason}")
        self.host = host
        self.address = address
        self.reason = reason
