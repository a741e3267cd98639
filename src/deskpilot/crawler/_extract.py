"""Extraction: a fetched document (HTML, plain text, Markdown, PDF) becomes an `ExtractedPage`
whose sections carry the main content under its heading path, without navigation, sidebars,
footers, banners or scripts. Pure functions, safe to run in a thread or a process pool."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from lxml import etree
from w3lib.encoding import html_to_unicode

from deskpilot.crawler._urls import normalize_url
from deskpilot.documents import ExtractedPage, Section


class DocumentKind(StrEnum):
    HTML = "html"
    TEXT = "text"
    MARKDOWN = "markdown"
    PDF = "pdf"


@dataclass(frozen=True, slots=True)
class Extraction:
    """An extracted page plus what the page asks of crawlers."""

    page: ExtractedPage
    noindex: bool = False
    nofollow: bool = False
    # `<meta http-equiv=refresh>` target: the page is a redirect stub.
    refresh_url: str | None = None
    # `content_hash(page)`, computed where the extraction ran (off the event loop).
    content_hash: str = ""


def document_kind(content_type: str | None, url: str, body: bytes) -> DocumentKind | None:
    """What the crawler can extract from this response, or None when nothing."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml"):
        return DocumentKind.HTML
    if mime in ("text/markdown", "text/x-markdown"):
        return DocumentKind.MARKDOWN
    if mime == "application/pdf":
        return DocumentKind.PDF
    path = urlsplit(url).path.lower()
    if mime == "text/plain":
        return DocumentKind.MARKDOWN if path.endswith((".md", ".markdown")) else DocumentKind.TEXT
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        # Misconfigured servers: trust the bytes first, then the extension.
        head = body[:512].lstrip().lower()
        if head.startswith(b"%pdf-"):
            return DocumentKind.PDF
        if head.startswith((b"<!doctype html", b"<html")):
            return DocumentKind.HTML
        if path.endswith((".md", ".markdown")):
            return DocumentKind.MARKDOWN
        if path.endswith(".txt"):
            return DocumentKind.TEXT
    return None


def extract_document(
    body: bytes, url: str, content_type: str | None = None, *, pdf: bool = True
) -> Extraction | None:
    """Extract any supported document, with its content hash; None when the type is not
    supported. Takes and returns only picklable values, for process pools."""
    kind = document_kind(content_type, url, body)
    extraction: Extraction | None = None
    if kind is DocumentKind.HTML:
        extraction = extract_html(body, url, content_type=content_type)
    elif kind is DocumentKind.MARKDOWN:
        extraction = extract_markdown(_decode_text(body, content_type), url)
    elif kind is DocumentKind.TEXT:
        extraction = extract_text(_decode_text(body, content_type), url)
    elif kind is DocumentKind.PDF and pdf:
        extraction = extract_pdf(body, url)
    if extraction is None:
        return None
    return replace(extraction, content_hash=content_hash(extraction.page))


def content_hash(page: ExtractedPage) -> str:
    """SHA-256 of the page's normalised text: title, heading paths and section text, so a
    retitled page or a renamed heading counts as changed while whitespace noise does not."""
    digest = hashlib.sha256()
    digest.update(_normalise_for_hash(page.title).encode())
    for section in page.sections:
        digest.update(b"\x1e")
        digest.update(_normalise_for_hash("\x1f".join(section.heading_path)).encode())
        digest.update(b"\x1d")
        digest.update(_normalise_for_hash(section.text).encode())
    return digest.hexdigest()


def _normalise_for_hash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# --- HTML -------------------------------------------------------------------------------------

_HEADINGS: Final = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Never content, wherever they appear.
_DROP_TAGS: Final = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
        "embed", "video", "audio", "source", "track", "map", "input", "select", "option",
        "textarea", "button", "nav", "aside", "footer", "dialog", "head", "title", "meta",
        "link", "base", "img", "picture", "frame", "frameset", "applet",
    }
)  # fmt: skip
_BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "form", "header", "hgroup", "hr", "html",
        "li", "main", "ol", "p", "section", "summary", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul", "caption", "legend", "menu", "dir", "pre", "listing", "xmp",
        "plaintext", "search",
    }
)  # fmt: skip
_INLINE_DROPS: Final = frozenset(
    {
        "img", "picture", "svg", "button", "input", "select", "option", "textarea", "script",
        "style", "noscript", "source", "track", "map", "link", "meta", "base", "embed",
        "object", "canvas", "applet",
    }
)  # fmt: skip
_INLINE_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd",
        "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time",
        "u", "var", "wbr", "del", "ins", "font", "tt", "big", "strike",
    }
)  # fmt: skip
_DROP_ROLES: Final = frozenset(
    {
        "navigation", "contentinfo", "complementary", "search", "menu", "menubar", "toolbar",
        "dialog", "alertdialog", "tablist", "tooltip", "status", "alert", "marquee", "timer",
    }
)  # fmt: skip
_HEADER_ROLES: Final = frozenset({"banner"})
# Layout wrappers whose class names say nothing about them (`<body class="has-sidebar">`).
_NEVER_BY_NAME: Final = frozenset(
    {"html", "body", "main", "article", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code"}
)
# Class or id words that mark chrome around the content. Matched as whole words inside the
# attribute (`global-nav`, `site_footer`), so `navigable` or `footnote` stay.
_BOILERPLATE_WORDS: Final = re.compile(
    r"(?:^|[\s_-])(?:"
    r"nav|navs|navbar|subnav|sidenav|topnav|menu|menus|menubar|toc|tocs|hd|ft|"
    r"breadcrumbs?|pagination|pager|share|sharing|sharethis|social|socials|comments?|"
    r"disqus|related|relbar\d*|ads?|advert\w*|adsense|sponsors?|sponsored|promo|promos|"
    r"newsletter|subscribe|popup|popover|modal|tooltip|skip|skiplink|"
    r"searchbox|search-?form|search-?bar|feedback|rating|helpful|"
    r"edit-?(?:this-?)?page|edit-?link|print-?only|copyright|announcement|announcement-?bar|"
    r"toolbar|topbar|headerlink|anchor|anchorjs-link|hash-link|permalink|back-?to-?top|"
    r"language-?switcher|lang-?switcher|version-?switcher|version-?picker|rst-versions|"
    r"offcanvas|drawer|navheader|navfooter|on-?this-?page|post-?navigation|"
    r"algolia\w*|docsearch\w*|onetrust\w*|cookiebot\w*|cc-window|cc-banner|"
    r"md-sidebar\w*|md-header\w*|md-footer\w*|md-nav\w*|md-source\w*|md-search\w*|"
    r"wy-nav-side|wy-breadcrumbs|vp-sidebar|vp-nav\w*|vp-doc-footer\w*|"
    r"theme-doc-toc\w*|theme-doc-footer\w*|theme-doc-breadcrumbs|theme-edit-this-page|"
    r"table-of-contents|page-toc|localtoc|sphinxsidebar\w*"
    r")(?=$|[\s_-])"
)
# Substrings that mark chrome even inside a longer word (`sphinxsidebarwrapper`).
_BOILERPLATE_PARTS: Final = re.compile(
    r"sidebar|navbar|breadcrumb|cookie|consent|gdpr|footer|navigation|toctree-wrapper|"
    r"skip-?link|skip-?to|screen-?reader|visually-?hidden|sr-only|a11y-hidden"
)
# Whole class tokens too common as parts of content words to match as words.
_BOILERPLATE_TOKENS: Final = frozenset(
    {
        "prev", "next", "previous", "prev-next", "next-prev", "nav-previous", "nav-next",
        "previous-next", "prevnext", "nextprev", "pagenav", "page-nav",
    }
)  # fmt: skip
_HEADER_WORDS: Final = re.compile(
    r"(?:^|[\s_-])(?:header|masthead|site-?header|global-?header|page-?header|top-?header|"
    r"banner)(?=$|[\s_-])"
)
_CHROME_ID: Final = re.compile(
    r"^(?:(?:site|global|main|page|top|bottom|primary|secondary|left|right|side|mobile)[-_]?)?"
    r"(?:nav|navbar|navigation|menu|sidebar|footer|breadcrumbs?|toc|hd|ft|cookie\w*|consent\w*|"
    r"gdpr\w*|comments|disqus_thread|searchbox|search|skip[-_]?link|skip[-_]?to[-_]?content)"
    r"(?:[-_]?(?:wrapper|container|bar|area|menu|links|nav|inner|outer|top|bottom|left|right|"
    r"banner|notice|\d+))?$"
)
_HEADER_ID: Final = re.compile(
    r"^(?:(?:site|global|main|page|top)[-_]?)?(?:header|masthead|banner)(?:[-_]?(?:wrapper|"
    r"container|inner|outer|\d+))?$"
)
_HIDDEN_STYLE: Final = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
# Paragraphs that are chrome whatever their markup: copyright lines, bare Prev/Next bars.
_JUNK_PARAGRAPH: Final = re.compile(
    r"^(?:(?:©|\(c\)\s|copyright\s*(?:©|\(c\)|\d{4})|all rights reserved).{0,240}"
    r"|[«\u2039<\s]*(?:previous|prev|next|up|home|top|back to top|table of contents|contents)"
    r"(?:\s*[|»«\u203a\u2039<>·•:&-]?\s*(?:previous|prev|next|up|home|top|page|topic|chapter|section))*"
    r"[\s»«\u203a\u2039<>|·•:-]*)$",
    re.IGNORECASE | re.DOTALL,
)
_SYMBOL_ONLY: Final = re.compile(r"^[\s¶#§🔗¤*]*$")
_LANGUAGE: Final = re.compile(r"^([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{1,8})*$")
# Elements that, when present, hold a page's main content; best first. Each entry is
# (tag or None, attribute, value); the first one with enough text wins.
_CONTENT_ROOTS: Final[tuple[tuple[str | None, str | None, str | None], ...]] = (
    (None, "class", "theme-doc-markdown"),  # Docusaurus
    (None, "class", "md-content__inner"),  # MkDocs Material
    (None, "class", "vp-doc"),  # VitePress
    ("article", "role", "main"),  # Furo
    (None, "itemprop", "articleBody"),
    (None, "class", "article-body"),  # Zendesk, Freshdesk
    (None, "id", "fullArticle"),  # Help Scout
    (None, "class", "markdown-body"),  # GitHub, ReadMe
    (None, "class", "rst-content"),  # Read the Docs theme
    (None, "class", "td-content"),  # Docsy
    (None, "class", "entry-content"),  # WordPress
    (None, "class", "post-content"),
    ("main", None, None),
    (None, "role", "main"),
    ("article", None, None),
    (None, "id", "main-content"),
    (None, "id", "content"),
    (None, "class", "body"),  # Sphinx classic themes
    (None, "id", "main"),
)
_MIN_ROOT_TEXT: Final = 140
_FALLBACK_BELOW: Final = 250


_local = threading.local()


def _html_parser() -> etree.HTMLParser:
    # lxml parsers must not be shared between threads; one per thread is cheap.
    parser: etree.HTMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        # Fed UTF-8 bytes we decoded ourselves, so in-document declarations cannot lie.
        parser = etree.HTMLParser(
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def _is_chrome(el: Any, tag: str) -> bool:
    """True for elements that are page chrome, not content (navigation, banners...)."""
    if tag in _DROP_TAGS:
        return True
    attrib = el.attrib
    if not attrib:
        return False
    role = attrib.get("role")
    if role is not None and role.strip().lower() in _DROP_ROLES:
        return True
    if role != "tabpanel" and (
        "hidden" in attrib
        or attrib.get("aria-hidden", "").lower() == "true"
        or _HIDDEN_STYLE.search(attrib.get("style", "").lower()) is not None
    ):
        return True
    if tag in _NEVER_BY_NAME:
        return False
    if not (_chrome_class(attrib.get("class")) or _chrome_id(attrib.get("id"), tag)):
        return False
    # Names are a guess: a wrapper called `page-with-sidebar` that holds the page's title
    # holds the page, so it is read (the real chrome inside is pruned on the way down).
    return not _has_heading(el)


def _chrome_class(value: str | None) -> bool:
    if not value:
        return False
    names = value.lower()
    tokens = names.split()
    return bool(
        _BOILERPLATE_WORDS.search(names)
        or _BOILERPLATE_PARTS.search(names)
        or any(token in _BOILERPLATE_TOKENS for token in tokens)
        or ("contents" in tokens and "topic" in tokens)
    )


def _chrome_id(value: str | None, tag: str) -> bool:
    # Ids are often slugs of a heading (`id="pagination"` on a section about pagination),
    # so only whole, unmistakable chrome ids count, and never on <section>.
    if not value or tag == "section":
        return False
    return _CHROME_ID.match(value.lower()) is not None


def _is_header(el: Any, tag: str) -> bool:
    if tag == "header":
        return True
    attrib = el.attrib
    if not attrib:
        return False
    if attrib.get("role", "").strip().lower() in _HEADER_ROLES:
        return True
    classes = attrib.get("class")
    if classes and _HEADER_WORDS.search(classes.lower()):
        return True
    ident = attrib.get("id")
    return bool(ident) and _HEADER_ID.match(ident.lower()) is not None


def _has_heading(el: Any, levels: tuple[str, ...] = ("h1",)) -> bool:
    return next(el.iter(*levels), None) is not None


def _link_dense(el: Any, threshold: float = 0.85) -> bool:
    """A list or box that is mostly links (a menu, a table of contents, a tag cloud)."""
    links = 0
    link_chars = 0
    for a in el.iter("a"):
        links += 1
        link_chars += sum(len(part) for part in a.itertext())
    if links < 5:
        return False
    # Stop reading as soon as there is too much plain text for the box to be a menu.
    budget = link_chars / threshold
    total = 0
    for part in el.itertext():
        total += len(part)
        if total > budget:
            return False
    return total > 0


def _collapse(text: str) -> str:
    return " ".join(text.split())


class _SectionBuilder:
    """Collects text as the walker meets it: inline runs become paragraphs, list items keep
    their markers and nesting, code keeps its lines, and a heading closes the section."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._blocks: list[tuple[str, bool]] = []  # (text, is_list_item)
        self._inline: list[str] = []
        self._prefix: str | None = None
        self._indent = ""
        self._in_item = False

    # Sections

    def heading(self, level: int, text: str) -> None:
        self.flush()
        self._close_section()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))

    def _close_section(self) -> None:
        if not self._blocks:
            return
        parts: list[str] = []
        previous_item = False
        for text, is_item in self._blocks:
            if parts:
                parts.append("\n" if is_item and previous_item else "\n\n")
            parts.append(text)
            previous_item = is_item
        self.sections.append(Section(tuple(t for _, t in self._path), "".join(parts)))
        self._blocks = []

    def finish(self) -> list[Section]:
        self.flush()
        self._close_section()
        return self.sections

    # Blocks

    def flush(self) -> None:
        if not self._inline:
            return
        raw = "".join(self._inline)
        self._inline = []
        lines = [_collapse(part) for part in raw.split("\x00")]
        text = "\n".join(line for line in lines if line)
        # No letter or digit at all: icon-font glyphs, pilcrows, separators.
        if not any(ch.isalnum() for ch in text):
            return
        if len(text) < 260 and _JUNK_PARAGRAPH.match(text):
            return
        self._add(text)

    def _add(self, text: str, *, verbatim: bool = False) -> None:
        if self._prefix is not None:
            text = self._prefix + text
            self._prefix = None
        elif self._in_item:
            text = self._indent + "  " + text
        if verbatim and self._indent:
            text = text.replace("\n", "\n" + self._indent + "  ")
        self._blocks.append((text, self._in_item))

    def text(self, value: str | None) -> None:
        if value:
            self._inline.append(value)

    def line_break(self) -> None:
        # A placeholder that survives whitespace collapsing, turned into "\n" on flush.
        self._inline.append("\x00")

    def preformatted(self, text: str) -> None:
        self.flush()
        lines = [line.rstrip() for line in text.expandtabs(4).split("\n")]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if lines:
            self._add("\n".join(lines), verbatim=True)

    def table_rows(self, rows: list[str]) -> None:
        self.flush()
        if rows:
            self._add("\n".join(rows), verbatim=True)

    def list_item(self, marker: str, depth: int) -> tuple[str | None, str, bool]:
        self.flush()
        saved = (self._prefix, self._indent, self._in_item)
        self._indent = "  " * depth
        self._prefix = self._indent + marker
        self._in_item = True
        return saved

    def end_list_item(self, saved: tuple[str | None, str, bool]) -> None:
        self.flush()
        self._prefix, self._indent, self._in_item = saved


class _Walker:
    """Walks the content root once, in document order, pruning chrome on the way."""

    def __init__(self) -> None:
        self.out = _SectionBuilder()
        self._list_depth = 0

    def walk(self, el: Any) -> None:
        out = self.out
        out.text(el.text)
        for child in el:
            tag = child.tag
            if isinstance(tag, str):
                self.element(child, tag)
            out.text(child.tail)

    def element(self, el: Any, tag: str) -> None:
        out = self.out
        if _is_chrome(el, tag):
            # An icon or a button inside a sentence must not cut the sentence in two.
            if tag not in _INLINE_DROPS and tag not in _INLINE_TAGS:
                out.flush()
            return
        if _is_header(el, tag) and not _has_heading(el, ("h1", "h2")):
            out.flush()
            return
        level = _HEADINGS.get(tag)
        if level is not None:
            text = _SYMBOL_ONLY.sub("", _flat_text(el)).strip(" ¶#§")
            if text:
                out.heading(level, text)
            return
        if tag == "br":
            out.line_break()
            return
        if tag in ("pre", "listing", "xmp", "plaintext"):
            out.preformatted("".join(el.itertext()))
            return
        if tag in ("ul", "ol", "menu", "dir"):
            if _link_dense(el):
                out.flush()
                return
            self.list(el, ordered=tag == "ol")
            return
        if tag == "table":
            if _link_dense(el):
                out.flush()
                return
            self.table(el)
            return
        if tag == "hr":
            out.flush()
            return
        if tag in _BLOCK_TAGS:
            if (
                tag in ("div", "section", "dl", "center")
                and not _has_heading(el, ("h1", "h2", "h3"))
                and _link_dense(el)
            ):
                out.flush()
                return
            out.flush()
            self.walk(el)
            out.flush()
            return
        self.walk(el)

    def list(self, el: Any, *, ordered: bool) -> None:
        out = self.out
        out.flush()
        number = int(el.get("start", "1")) if (el.get("start") or "").isdigit() else 1
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag != "li":
                self.element(child, tag)
                continue
            if _is_chrome(child, tag):
                continue
            saved = out.list_item(f"{number}. " if ordered else "- ", self._list_depth)
            number += 1
            self._list_depth += 1
            try:
                self.walk(child)
            finally:
                self._list_depth -= 1
                out.end_list_item(saved)

    def table(self, el: Any) -> None:
        # Tables used for page layout hold whole blocks: read them as blocks, not rows.
        if next(el.iter("table", "h1", "h2", "h3", "pre"), el) is not el or (
            el.find(".//th") is None and el.find(".//p") is not None
        ):
            self.out.flush()
            self.walk(el)
            self.out.flush()
            return
        rows: list[str] = []
        for caption in el.iter("caption"):
            text = _flat_text(caption)
            if text:
                rows.append(text)
        for tr in el.iter("tr"):
            if _is_chrome(tr, "tr"):
                continue
            cells = [
                _flat_text(cell)
                for cell in tr
                if cell.tag in ("td", "th") and not _is_chrome(cell, cell.tag)
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        self.out.table_rows(rows)


def _flat_text(el: Any) -> str:
    """The element's visible text on one line, chrome removed (headings, cells, titles)."""
    parts: list[str] = []
    _flat(el, parts)
    return _collapse("".join(parts))


def _flat(el: Any, parts: list[str]) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and not _is_chrome(child, tag):
            if tag in _BLOCK_TAGS or tag == "br":
                parts.append(" ")
            _flat(child, parts)
            if tag in _BLOCK_TAGS:
                parts.append(" ")
        if child.tail:
            parts.append(child.tail)


_ROOT_CLASSES: Final = frozenset(v for _, a, v in _CONTENT_ROOTS if a == "class" and v)
_ROOT_IDS: Final = frozenset(v for _, a, v in _CONTENT_ROOTS if a == "id" and v)


def _content_candidates(root: Any) -> list[Any]:
    # One pass in Python beats libxml2's XPath attribute predicates here by a wide margin.
    found: list[Any] = []
    for el in root.iter():
        attrib = el.attrib
        if not attrib:
            if el.tag in ("main", "article"):
                found.append(el)
            continue
        classes = attrib.get("class")
        if (
            el.tag in ("main", "article")
            or attrib.get("role") == "main"
            or attrib.get("id") in _ROOT_IDS
            or "itemprop" in attrib
            or (classes is not None and not _ROOT_CLASSES.isdisjoint(classes.split()))
        ):
            found.append(el)
    return found


def _text_length(el: Any) -> int:
    return sum(len(part.strip()) for part in el.itertext())


def _rank(el: Any) -> int | None:
    tag = el.tag
    attrib = el.attrib
    for index, (want_tag, attr, value) in enumerate(_CONTENT_ROOTS):
        if want_tag is not None and tag != want_tag:
            continue
        if attr is None:
            return index
        found = attrib.get(attr)
        if found is None:
            continue
        if (value in found.split()) if attr == "class" else found == value:
            return index
    return None


def _find_content_root(root: Any) -> Any | None:
    """The element that holds the page's main text, by the markup sites use for it."""
    ranked: dict[int, list[Any]] = {}
    for el in _content_candidates(root):
        rank = _rank(el)
        if rank is not None:
            ranked.setdefault(rank, []).append(el)
    for rank in sorted(ranked):
        elements = ranked[rank]
        # Several <article>s are a listing (a blog index), not one main text.
        if _CONTENT_ROOTS[rank] == ("article", None, None) and len(elements) > 1:
            continue
        element = max(elements, key=_text_length)
        if _is_chrome(element, element.tag):
            continue
        if _text_length(element) >= _MIN_ROOT_TEXT or _has_heading(element, ("h1", "h2")):
            return element
    return None


def _meta(root: Any) -> Iterator[tuple[str, str]]:
    head = root.find("head")
    if head is None:
        return
    for meta in head.iter("meta"):
        key = (meta.get("name") or meta.get("property") or meta.get("http-equiv") or "").lower()
        content = meta.get("content")
        if key and content is not None:
            yield key, content


def _language(root: Any, meta: dict[str, str]) -> str | None:
    for value in (
        root.get("lang"),
        root.get("{http://www.w3.org/XML/1998/namespace}lang"),
        root.get("xml:lang"),
        meta.get("content-language"),
        meta.get("og:locale"),
        meta.get("language"),
    ):
        if value:
            match = _LANGUAGE.match(value.strip().split(",")[0].strip())
            if match:
                return match.group(1).lower()
    return None


def _robots_directives(meta: dict[str, str]) -> set[str]:
    directives: set[str] = set()
    for key in ("robots", "deskpilotbot"):
        value = meta.get(key)
        if value:
            directives.update(part.strip().lower() for part in value.split(","))
    if "none" in directives:
        directives.update({"noindex", "nofollow"})
    return directives


def _refresh_target(meta: dict[str, str], base: str) -> str | None:
    value = meta.get("refresh")
    if not value:
        return None
    delay, _, rest = value.partition(";")
    try:
        if float(delay.strip() or "0") > 10:
            return None
    except ValueError:
        return None
    target = rest.strip()
    if target.lower().startswith("url"):
        target = target[3:].lstrip(" =").strip("'\" ")
    return normalize_url(target, base) if target else None


def _links(root: Any, base: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    raw_seen: set[str] = set()
    for a in root.iter("a", "area"):
        href = a.get("href")
        if not href or href in raw_seen:
            continue
        raw_seen.add(href)
        stripped = href.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lowered = stripped[:11].lower()
        if lowered.startswith(("javascript:", "mailto:", "tel:", "data:", "sms:", "ftp:")):
            continue
        rel = (a.get("rel") or "").lower()
        if "nofollow" in rel.split():
            continue
        url = normalize_url(stripped, base)
        if url is not None:
            seen[url] = None
    return tuple(seen)


def extract_html(body: bytes | str, url: str, *, content_type: str | None = None) -> Extraction:
    """Main content of an HTML page, cut into sections at its headings."""
    if isinstance(body, bytes):
        _, text = html_to_unicode(content_type, body, auto_detect_fun=_detect_encoding)
    else:
        text = body
    if not text.strip():
        return Extraction(
            ExtractedPage(url=url, title=_title_from_url(url), language=None, sections=())
        )
    try:
        root = etree.fromstring(text.encode("utf-8", errors="replace"), _html_parser())
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        return Extraction(
            ExtractedPage(url=url, title=_title_from_url(url), language=None, sections=())
        )

    meta = dict(_meta(root))
    base = url
    base_el = root.find("head/base")
    if base_el is not None and base_el.get("href"):
        base = normalize_url(base_el.get("href"), url) or url
    directives = _robots_directives(meta)
    canonical = None
    head = root.find("head")
    if head is not None:
        for link in head.iter("link"):
            if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
                canonical = normalize_url(link.get("href"), base)
                break

    title_el = root.find("head/title")
    title = _flat_text(title_el) if title_el is not None else ""
    links = () if "nofollow" in directives else _links(root, base)
    sections = _main_sections(root, text)
    title = (
        title
        or _collapse(meta.get("og:title", ""))
        or next((s.heading_path[0] for s in sections if s.heading_path), "")
        or _title_from_url(url)
    )
    page = ExtractedPage(
        url=url,
        title=title,
        language=_language(root, meta),
        sections=tuple(sections),
        links=links,
        canonical_url=canonical,
    )
    return Extraction(
        page=page,
        noindex="noindex" in directives,
        nofollow="nofollow" in directives,
        refresh_url=_refresh_target(meta, base),
    )


def _walk_sections(element: Any) -> list[Section]:
    walker = _Walker()
    try:
        walker.walk(element)
    except RecursionError:
        # Pathologically deep markup: keep its text, lose its structure.
        return [Section((), _collapse(" ".join(element.itertext())))]
    return walker.out.finish()


def _size(sections: list[Section]) -> int:
    return sum(len(section.text) for section in sections)


def _main_sections(root: Any, html: str) -> list[Section]:
    body = root.find("body")
    body = body if body is not None else root
    container = _find_content_root(root)
    sections = _walk_sections(container if container is not None else body)
    if container is not None and _size(sections) < _MIN_ROOT_TEXT:
        # The container we trusted held almost nothing: read the whole body instead.
        wider = _walk_sections(body)
        if _size(wider) > _size(sections):
            sections = wider
    if (
        _size(sections) < _FALLBACK_BELOW
        and _text_length(body) > 4 * _FALLBACK_BELOW
        and not _link_dense(body, threshold=0.5)
    ):
        # Our pruning left next to nothing of a page full of prose: let trafilatura's
        # scoring have a go. Pages of links (indexes, tables of contents) are left empty
        # on purpose.
        rescued = _trafilatura_sections(html)
        if _size(rescued) > _size(sections):
            sections = rescued
    return sections


def _trafilatura_sections(html: str) -> list[Section]:
    """Last resort for pages our structural pass reads as empty (div soup without any
    recognisable chrome or content markers): trafilatura's scoring finds the text."""
    import trafilatura

    result = trafilatura.bare_extraction(
        html,
        fast=True,
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        with_metadata=False,
        as_dict=False,
    )
    body = getattr(result, "body", None)
    if body is None:
        return []
    out = _SectionBuilder()
    for el in body.iter():
        tag = el.tag
        if tag == "head":
            rend = (el.get("rend") or "h2").lstrip("h")
            out.heading(int(rend) if rend.isdigit() else 2, _flat_text(el))
        elif tag in ("p", "item", "row", "quote"):
            out.text(_flat_text(el))
            out.flush()
        elif tag == "code" and el.getparent() is body:
            out.preformatted("".join(el.itertext()))
    return out.finish()


def _detect_encoding(body: bytes) -> str:
    # Undeclared encodings: UTF-8 when it decodes, else the web's legacy default.
    try:
        body[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 65530:
            return "cp1252"
    return "utf-8"


def _decode_text(body: bytes, content_type: str | None) -> str:
    return html_to_unicode(content_type, body, auto_detect_fun=_detect_encoding)[1]


def _title_from_url(url: str) -> str:
    path = unquote(urlsplit(url).path).rstrip("/")
    name = path.rsplit("/", 1)[-1] if path else ""
    return name or urlsplit(url).netloc


# --- Plain text, Markdown, PDF ----------------------------------------------------------------


def extract_text(text: str, url: str) -> Extraction:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n"))]
    body = "\n\n".join(p for p in paragraphs if p)
    sections = (Section((), body),) if body else ()
    return Extraction(
        ExtractedPage(url=url, title=_title_from_url(url), language=None, sections=sections)
    )


def extract_markdown(text: str, url: str) -> Extraction:
    """Markdown is rendered to HTML and read like any page, so headings, lists and code
    blocks come out the same way."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(text)
    extraction = extract_html(f"<html><body><main>{html}</main></body></html>", url)
    page = extraction.page
    title = next((s.heading_path[0] for s in page.sections if s.heading_path), "")
    return Extraction(replace(page, title=title or _title_from_url(url)))


_PDF_MAX_PAGES: Final = 500


def extract_pdf(body: bytes, url: str) -> Extraction:
    """Text of each PDF page (pypdf, layout-free); the outline is not used for headings."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(body))
    texts: list[str] = []
    for page in reader.pages[:_PDF_MAX_PAGES]:
        extracted = page.extract_text() or ""
        cleaned = "\n".join(_collapse(line) for line in extracted.splitlines())
        cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
        if cleaned:
            texts.append(cleaned)
    metadata = reader.metadata
    title = _collapse(str(metadata.title)) if metadata is not None and metadata.title else ""
    sections = (Section((), "\n\n".join(texts)),) if texts else ()
    return Extraction(
        ExtractedPage(
            url=url, title=title or _title_from_url(url), language=None, sections=sections
        )
    )
