"""URL normalisation and crawl scope: hosts, start path, include/exclude patterns."""

from __future__ import annotations

import pytest

from deskpilot.crawler import compile_path_pattern, normalize_url
from deskpilot.crawler._scope import Scope


class TestNormalizeUrl:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("HTTP://Example.COM:80/a/./b/../c#frag", "http://example.com/a/c"),
            ("https://example.com:443", "https://example.com/"),
            ("https://example.com:8443/x", "https://example.com:8443/x"),
            ("https://user:pw@example.com/x", "https://example.com/x"),
            (
                "https://example.com/x?utm_source=a&b=2&a=1&fbclid=z&gclid=y",
                "https://example.com/x?a=1&b=2",
            ),
            ("https://example.com/x;jsessionid=ABC?q=1", "https://example.com/x?q=1"),
            ("https://example.com/%7euser/caf\u00e9", "https://example.com/~user/caf%C3%A9"),
            ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),
            ("https://example.com./x", "https://example.com/x"),
            ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ],
    )
    def test_canonical_forms(self, raw: str, expected: str) -> None:
        assert normalize_url(raw) == expected

    def test_relative_links_resolve_against_the_base(self) -> None:
        assert (
            normalize_url("../b?x=1", "https://a.test/docs/one/page.html")
            == "https://a.test/docs/b?x=1"
        )
        assert normalize_url("//cdn.a.test/x", "https://a.test/") == "https://cdn.a.test/x"

    @pytest.mark.parametrize(
        "raw",
        [
            "mailto:a@b.test",
            "javascript:void(0)",
            "ftp://a.test/x",
            "https://",
            "http://a.test:99999/",
        ],
    )
    def test_non_crawlable_urls_are_none(self, raw: str) -> None:
        assert normalize_url(raw) is None


class TestPathPatterns:
    @pytest.mark.parametrize(
        ("pattern", "path", "matches"),
        [
            ("/blog", "/blog", True),
            ("/blog", "/blog/x", True),
            ("/blog", "/blogging", True),  # API.md: a pattern without * is a prefix
            ("/blog", "/about/blog", False),
            ("blog", "/blog/x", True),  # a missing leading slash is implied
            ("/blog/*", "/blog/x/y", True),
            ("/blog/*", "/blog", False),
            ("*.pdf", "/files/a.pdf", True),
            ("*.pdf", "/files/a.pdf.html", False),
            ("/docs/*/install", "/docs/v2/install", True),
            ("/docs/*/install", "/docs/v2/install/linux", False),
            ("/docs/*/install*", "/docs/v2/install/linux", True),
            ("/a.b", "/aXb", False),  # only * is special
        ],
    )
    def test_semantics(self, pattern: str, path: str, matches: bool) -> None:
        assert (compile_path_pattern(pattern).match(path) is not None) is matches


class TestScope:
    def test_host_and_its_www_twin_are_in_scope(self) -> None:
        scope = Scope.build("https://example.com/")
        assert scope.refusal("https://example.com/a") is None
        assert scope.refusal("https://www.example.com/a") is None
        assert scope.refusal("http://example.com/a") is None
        assert scope.refusal("https://docs.example.com/a") is not None
        assert scope.refusal("https://example.com:8443/a") is not None

    def test_start_path_bounds_the_crawl(self) -> None:
        scope = Scope.build("https://example.com/docs/")
        assert scope.on_site("https://example.com/docs/")
        assert scope.on_site("https://example.com/docs")
        assert scope.on_site("https://example.com/docs/a/b")
        assert not scope.on_site("https://example.com/docsearch")
        assert not scope.on_site("https://example.com/")

    def test_start_url_naming_a_file_scopes_its_folder(self) -> None:
        scope = Scope.build("https://example.com/manual/index.html")
        assert scope.on_site("https://example.com/manual/other.html")
        assert not scope.on_site("https://example.com/blog/")

    def test_exclude_wins_over_include(self) -> None:
        scope = Scope.build("https://example.com/", ["/docs"], ["/docs/internal"])
        assert scope.refusal("https://example.com/docs/a") is None
        assert scope.refusal("https://example.com/docs/internal/a") is not None
        assert scope.refusal("https://example.com/blog") is not None

    def test_patterns_match_the_decoded_path(self) -> None:
        scope = Scope.build("https://example.com/", ["/caf\u00e9"])
        assert scope.refusal("https://example.com/caf%C3%A9/menu") is None

    def test_file_extensions_that_are_not_pages(self) -> None:
        scope = Scope.build("https://example.com/")
        assert scope.refusal("https://example.com/logo.PNG") is not None
        assert scope.refusal("https://example.com/archive.tar.gz") is not None
        assert scope.refusal("https://example.com/guide.pdf") is None
        assert scope.refusal("https://example.com/v1.2/intro") is None
