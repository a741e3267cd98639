"""Which URLs belong to a crawl: the start URL's host (and path), the include/exclude path
patterns of API.md, and links that are not pages at all."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from deskpilot.crawler._urls import has_skipped_extension, normalize_url


def compile_path_pattern(pattern: str) -> re.Pattern[str]:
    """A pattern without `*` is a prefix (`/blog` matches `/blog/x`); with `*` it must match
    the whole path, `*` standing for any run of characters (`/` included)."""
    text = pattern.strip()
    if not text.startswith(("/", "*")):
        text = "/" + text
    if "*" not in text:
        return re.compile(re.escape(text))
    return re.compile(".*".join(re.escape(part) for part in text.split("*")) + r"\Z")


def _host_aliases(netloc: str) -> frozenset[str]:
    # `example.com` and `www.example.com` are one site in practice: the bare domain almost
    # always redirects to one of them, and refusing that hop would end the crawl at once.
    if netloc.startswith("www."):
        return frozenset({netloc, netloc[4:]})
    return frozenset({netloc, "www." + netloc})


@dataclass(frozen=True, slots=True)
class Scope:
    start_url: str
    hosts: frozenset[str]
    path_prefix: str
    includes: tuple[re.Pattern[str], ...]
    excludes: tuple[re.Pattern[str], ...]

    @classmethod
    def build(
        cls, start_url: str, include_paths: Sequence[str] = (), exclude_paths: Sequence[str] = ()
    ) -> Scope:
        normalised = normalize_url(start_url)
        if normalised is None:
            raise ValueError(f"not an http(s) URL: {start_url!r}")
        parts = urlsplit(normalised)
        path = parts.path or "/"
        # A start URL naming a file (`/docs/index.html`) scopes the crawl to its folder.
        last = path.rsplit("/", 1)[-1]
        prefix = path.rsplit("/", 1)[0] + "/" if "." in last else path
        return cls(
            start_url=normalised,
            hosts=_host_aliases(parts.netloc),
            path_prefix=unquote(prefix),
            includes=tuple(compile_path_pattern(p) for p in include_paths if p.strip()),
            excludes=tuple(compile_path_pattern(p) for p in exclude_paths if p.strip()),
        )

    def on_site(self, url: str) -> bool:
        """Same host (or its www twin) and under the start URL's path."""
        parts = urlsplit(url)
        if parts.netloc not in self.hosts:
            return False
        path = unquote(parts.path or "/")
        prefix = self.path_prefix
        if prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return True
        return path == prefix.rstrip("/")

    def passes_rules(self, url: str) -> bool:
        """Include/exclude patterns on the decoded path: exclude wins, empty include = all."""
        path = unquote(urlsplit(url).path or "/")
        if any(p.match(path) for p in self.excludes):
            return False
        return not self.includes or any(p.match(path) for p in self.includes)

    def refusal(self, url: str) -> str | None:
        """Why `url` (normalised) is not a page of this crawl, or None when it is."""
        if not self.on_site(url):
            return "outside the start URL's site"
        if has_skipped_extension(url):
            return "not a page (file extension)"
        if not self.passes_rules(url):
            return "excluded by the include/exclude paths"
        return None
