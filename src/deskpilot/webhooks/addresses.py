"""Which URLs webhooks may be sent to: https (plain http only with WEBHOOKS_ALLOW_HTTP) on a
host whose every address is public (private, loopback and link-local ones only with
WEBHOOKS_ALLOW_PRIVATE_NETWORKS; cloud metadata never). Checked when a webhook is saved, and
again on every delivery by the crawler's SSRF guard inside the connection itself: it connects
to the address it checked, so a name re-pointed after the check (DNS rebinding) gets nowhere."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from deskpilot.config import Settings
from deskpilot.crawler import AddressPolicy, BlockedAddressError, Resolver

# The guard's network backend and transport are the crawler's own, not yet exported by it.
from deskpilot.crawler._ssrf import GuardedNetworkBackend, guarded_transport
from deskpilot.errors import InvalidInput
from deskpilot.jobs import TaskContext

RESOURCE = "webhooks.url_rules"
_RESOLVE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class UrlRules:
    allow_http: bool = False
    allow_private_networks: bool = False
    # Tests map names onto chosen addresses; None is the system's resolver.
    resolver: Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlRules:
        return cls(
            allow_http=settings.WEBHOOKS_ALLOW_HTTP,
            allow_private_networks=settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS,
        )

    @property
    def policy(self) -> AddressPolicy:
        return AddressPolicy(allow_private_networks=self.allow_private_networks)

    def transport(self, *, max_connections: int) -> httpx.AsyncHTTPTransport:
        """An httpx transport that refuses, per connection, what `check` refuses."""
        return guarded_transport(
            self.policy, resolver=self.resolver, max_connections=max_connections
        )

    def parse(self, url: str) -> tuple[str, int]:
        """The host and port of an acceptable URL; InvalidInput naming the problem otherwise."""
        schemes = ("https", "http") if self.allow_http else ("https",)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidInput("url is not a valid URL") from exc
        if parts.scheme.lower() not in schemes:
            raise InvalidInput(
                "url must be an http or https URL" if self.allow_http else "url must be https"
            )
        host = parts.hostname
        if not host:
            raise InvalidInput("url must have a host")
        if any(ch.isspace() or ord(ch) < 32 for ch in url):
            raise InvalidInput("url must not contain spaces or control characters")
        default = 443 if parts.scheme.lower() == "https" else 80
        return host, port or default

    async def check(self, url: str) -> None:
        """Raise InvalidInput unless `url` passes `parse` and its host resolves only to
        addresses the policy allows."""
        host, port = self.parse(url)
        backend = GuardedNetworkBackend(self.policy, self.resolver)
        try:
            await backend.resolve(host, port, timeout=_RESOLVE_TIMEOUT_SECONDS)
        except BlockedAddressError as exc:
            raise InvalidInput(f"url must resolve to a public address: {exc.reason}") from exc
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise InvalidInput(f"url host {host} cannot be resolved") from exc


def rules_for(ctx: TaskContext) -> UrlRules:
    """This process's rules: from the settings, unless a test installed its own."""
    rules = ctx.resources.get(RESOURCE)
    if rules is None:
        rules = ctx.resources[RESOURCE] = UrlRules.from_settings(ctx.settings)
    assert isinstance(rules, UrlRules)
    return rules
