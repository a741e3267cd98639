"""Extraction: main content with its headings, chrome dropped, metadata, encodings, the
other document types, and the content hash."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from deskpilot.crawler import (
    DocumentKind,
    content_hash,
    document_kind,
    extract_document,
    extract_html,
)
from deskpilot.documents import ExtractedPage, Section

URL = "https://help.acme.test/docs/webhooks"

REALISTIC = """<!doctype html>
<html lang="en-US">
<head>
  <meta charset="utf-8">
  <title>Configure webhooks | Acme Help</title>
  <link rel="canonical" href="/docs/webhooks?utm_source=nav">
  <script>var tracking = "script text must not leak";</script>
  <style>.x { color: red }</style>
</head>
<body class="has-sidebar">
  <div class="cookie-banner">
    We use cookies to improve your experience. <button>Accept all</button>
  </div>
  <header class="site-header">
    <a href="/" class="logo">Acme</a>
    <nav><a href="/docs">Docs</a> <a href="/pricing">Pricing</a> <a href="/login">Sign in</a></nav>
  </header>
  <div class="layout">
    <aside class="sidebar">
      <h3>Table of contents</h3>
      <ul>
        <li><a href="/docs/start">Getting started</a></li>
        <li><a href="/docs/webhooks">Webhooks</a></li>
        <li><a href="/docs/billing">Billing overview</a></li>
      </ul>
    </aside>
    <main>
      <nav class="breadcrumbs"><a href="/">Home</a> / <a href="/docs">Docs</a></nav>
      <article>
        <h1>Configure webhooks<a class="headerlink" href="#configure">¶</a></h1>
        <p>Webhooks notify your server when a <em>conversation</em> changes state.</p>
        <h2>Create an endpoint</h2>
        <ol>
          <li>Open <b>Settings</b>.</li>
          <li>Click <code>Add endpoint</code>.
            <ul><li>Use an HTTPS URL.</li></ul>
          </li>
        </ol>
        <pre><code>curl -X POST https://api.acme.test/hooks \\
  -d '{"url": "https://example.com"}'</code></pre>
        <h3>Verify signatures</h3>
        <p>Each request carries a signature header.<br>Compare it in constant time.</p>
        <table>
          <thead><tr><th>Header</th><th>Meaning</th></tr></thead>
          <tbody><tr><td>X-Acme-Signature</td><td>HMAC-SHA256 of the body</td></tr></tbody>
        </table>
        <h2>Retries</h2>
        <p>Failed deliveries are retried for 24 hours.</p>
        <div class="feedback">Was this page helpful? <button>Yes</button> <button>No</button></div>
        <div class="pagination-nav">
          <a href="/docs/start">« Previous</a> <a href="/docs/billing">Next »</a>
        </div>
      </article>
    </main>
    <div class="toc-right"><div class="table-of-contents"><a href="#retries">Retries</a></div></div>
  </div>
  <footer>
    <p>© 2024 Acme Inc. All rights reserved.</p>
    <a href="/privacy" rel="nofollow">Privacy</a> <a href="/terms">Terms</a>
  </footer>
</body>
</html>"""


class TestMainContent:
    def test_keeps_headings_and_content_and_drops_chrome(self) -> None:
        page = extract_html(REALISTIC.encode(), URL).page

        assert [s.heading_path for s in page.sections] == [
            ("Configure webhooks",),
            ("Configure webhooks", "Create an endpoint"),
            ("Configure webhooks", "Create an endpoint", "Verify signatures"),
            ("Configure webhooks", "Retries"),
        ]
        intro, steps, verify, retries = (s.text for s in page.sections)
        assert intro == "Webhooks notify your server when a conversation changes state."
        assert steps.startswith("1. Open Settings.\n2. Click Add endpoint.\n  - Use an HTTPS URL.")
        assert 'curl -X POST https://api.acme.test/hooks \\\n  -d \'{"url"' in steps
        assert "Each request carries a signature header.\nCompare it in constant time." in verify
        assert "Header | Meaning\nX-Acme-Signature | HMAC-SHA256 of the body" in verify
        assert retries == "Failed deliveries are retried for 24 hours."

        everything = (
            page.title
            + "\n"
            + "\n".join(" ".join(s.heading_path) + "\n" + s.text for s in page.sections)
        )
        for junk in (
            "cookies", "Accept all", "Pricing", "Sign in", "Table of contents", "Getting started",
            "Billing overview", "Home", "Previous", "Next", "helpful", "©", "rights reserved",
            "Privacy", "Terms", "script text", "color: red", "¶",
        ):  # fmt: skip
            assert junk not in everything, junk

    def test_metadata_and_links(self) -> None:
        page = extract_html(REALISTIC.encode(), URL).page

        assert page.title == "Configure webhooks | Acme Help"
        assert page.language == "en"
        assert page.canonical_url == "https://help.acme.test/docs/webhooks"
        # Links come from the whole page, navigation included, absolute and normalised;
        # rel=nofollow links and in-page anchors are left out.
        assert "https://help.acme.test/pricing" in page.links
        assert "https://help.acme.test/docs/billing" in page.links
        assert "https://help.acme.test/terms" in page.links
        assert "https://help.acme.test/privacy" not in page.links
        assert len(page.links) == len(set(page.links))

    def test_page_without_landmarks_is_read_from_the_body(self) -> None:
        html = """<html><head><title>Old site</title></head><body>
          <div id="header">
            <a href="/">Logo</a><div id="menu"><a href="/a">A</a> | <a href="/b">B</a></div>
          </div>
          <div id="sidebar"><h3>Categories</h3><a href="/c1">Cat 1</a></div>
          <div class="page">
            <h1>Shipping policy</h1>
            <p>We ship worldwide within five business days.</p>
            <h2 id="navigation">Navigation of parcels</h2>
            <p>Parcels are tracked end to end.</p>
          </div>
          <div id="footer">Copyright 2020 Old Site Ltd</div>
        </body></html>"""
        page = extract_html(html, "https://old.test/shipping").page

        assert [s.heading_path for s in page.sections] == [
            ("Shipping policy",),
            ("Shipping policy", "Navigation of parcels"),
        ]
        assert "Logo" not in page.text and "Cat 1" not in page.text
        assert "Copyright" not in page.text

    def test_link_lists_are_dropped_as_navigation(self) -> None:
        links = "".join(f'<li><a href="/p{i}">Page number {i}</a></li>' for i in range(12))
        html = f"<main><h1>Guide</h1><p>Real prose about the guide.</p><ul>{links}</ul></main>"
        page = extract_html(html, "https://a.test/g").page
        assert page.text == "Real prose about the guide."
        assert len(page.links) == 12

    def test_hidden_and_aria_hidden_elements_are_dropped(self) -> None:
        html = (
            "<main><h1>T</h1><p>Visible text.</p><div hidden>Hidden one</div>"
            '<span aria-hidden="true">Icon</span><div style="display: none">Hidden two</div>'
            '<div role="tabpanel" hidden>Tab two content</div></main>'
        )
        text = extract_html(html, "https://a.test/").page.text
        assert "Visible text." in text and "Tab two content" in text
        assert "Hidden" not in text and "Icon" not in text

    def test_prose_lost_to_pruning_is_rescued_by_trafilatura(self) -> None:
        prose = "".join(
            f"<p>Paragraph {i} explains how refunds, returns and exchanges work for orders "
            f"placed in region {i}, including the deadlines that apply there.</p>"
            for i in range(12)
        )
        html = f'<html><body><div class="popup-content">{prose}</div></body></html>'
        text = extract_html(html, "https://a.test/r").page.text
        assert "Paragraph 0 explains" in text and "region 11" in text


class TestDirectives:
    def test_meta_robots_and_refresh(self) -> None:
        html = (
            '<html><head><meta name="robots" content="noindex, nofollow">'
            '<meta http-equiv="refresh" content="0; url=/new-home"></head>'
            '<body><main><h1>Moved</h1><a href="/x">x</a></main></body></html>'
        )
        extraction = extract_html(html, "https://a.test/old")
        assert extraction.noindex and extraction.nofollow
        assert extraction.page.links == ()
        assert extraction.refresh_url == "https://a.test/new-home"

    def test_base_href_resolves_links(self) -> None:
        html = (
            '<html><head><base href="https://cdn.a.test/v2/"></head>'
            '<body><a href="page">p</a></body></html>'
        )
        assert extract_html(html, "https://a.test/").page.links == ("https://cdn.a.test/v2/page",)


class TestEncodings:
    def test_undeclared_legacy_encoding_is_detected(self) -> None:
        html = "<html><body><main><h1>Café</h1><p>Crème brûlée — 5 €</p></main></body></html>"
        page = extract_html(html.encode("cp1252"), "https://a.test/").page
        assert page.sections[0].heading_path == ("Café",)
        assert page.text == "Crème brûlée — 5 €"

    def test_meta_charset_and_header_charset(self) -> None:
        body = '<html><head><meta charset="iso-8859-1"></head><body><p>Grüße</p></body></html>'
        data = body.encode("iso-8859-1")
        assert extract_html(data, "https://a.test/").page.text == "Grüße"
        utf8 = body.replace("iso-8859-1", "utf-8").encode("utf-8")
        # The HTTP header wins over the document's own declaration.
        assert (
            extract_html(utf8, "https://a.test/", content_type="text/html; charset=utf-8").page.text
            == "Grüße"
        )

    def test_xhtml_with_xml_declaration(self) -> None:
        xhtml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="de">'
            "<body><h1>Über</h1><p>Text hier.</p></body></html>"
        )
        page = extract_html(xhtml.encode(), "https://a.test/").page
        assert page.language == "de"
        assert page.sections[0].heading_path == ("Über",)


class TestOtherDocuments:
    def test_document_kind(self) -> None:
        assert document_kind("text/html; charset=utf-8", "https://a/x", b"") is DocumentKind.HTML
        assert document_kind("text/plain", "https://a/readme.md", b"") is DocumentKind.MARKDOWN
        assert document_kind(None, "https://a/x", b"%PDF-1.7 ...") is DocumentKind.PDF
        assert (
            document_kind("application/octet-stream", "https://a/x", b"<!DOCTYPE html>")
            is DocumentKind.HTML
        )
        assert document_kind("image/png", "https://a/x.png", b"\x89PNG") is None

    def test_markdown_keeps_heading_paths_and_code(self) -> None:
        markdown = (
            "# Guide\n\nIntro.\n\n## Install\n\n```sh\npip install acme\n```\n\n- one\n- two\n"
        )
        extraction = extract_document(markdown.encode(), "https://a.test/guide.md", "text/markdown")
        assert extraction is not None
        page = extraction.page
        assert page.title == "Guide"
        assert page.sections[1].heading_path == ("Guide", "Install")
        assert page.sections[1].text == "pip install acme\n\n- one\n- two"

    def test_pdf_text_is_extracted(self) -> None:
        extraction = extract_document(
            _tiny_pdf("Refund policy applies"), "https://a.test/p.pdf", "application/pdf"
        )
        assert extraction is not None
        assert "Refund policy applies" in extraction.page.text
        assert (
            extract_document(_tiny_pdf("x"), "https://a.test/p.pdf", "application/pdf", pdf=False)
            is None
        )

    def test_extraction_runs_in_a_process_pool(self) -> None:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            extraction = pool.submit(
                extract_document, REALISTIC.encode(), URL, "text/html"
            ).result()
        assert extraction is not None
        assert extraction == extract_document(REALISTIC.encode(), URL, "text/html")
        assert pickle.loads(pickle.dumps(extraction)) == extraction


class TestContentHash:
    def _page(
        self, title: str = "T", heading: str = "H", text: str = "Some text."
    ) -> ExtractedPage:
        return ExtractedPage("https://a.test/", title, "en", (Section((heading,), text),))

    def test_is_stable_under_whitespace_and_changes_with_content(self) -> None:
        base = content_hash(self._page())
        assert len(base) == 64
        assert content_hash(self._page(text="Some   text.\n")) == base
        assert content_hash(self._page(text="Other text.")) != base
        assert content_hash(self._page(heading="Renamed")) != base
        assert content_hash(self._page(title="Retitled")) != base

    def test_same_html_gives_same_hash(self) -> None:
        first = extract_html(REALISTIC, URL).page
        second = extract_html(REALISTIC.replace("Webhooks notify", "Webhooks  notify"), URL).page
        changed = extract_html(REALISTIC.replace("24 hours", "48 hours"), URL).page
        assert content_hash(first) == content_hash(second)
        assert content_hash(first) != content_hash(changed)


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF with `text`, written by hand (xref offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.mark.parametrize("html", ["", "   ", "<html></html>", "not html at all"])
def test_degenerate_documents_do_not_raise(html: str) -> None:
    page = extract_html(html, "https://a.test/page").page
    assert page.title
