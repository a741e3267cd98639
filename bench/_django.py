"""Bench support: the Django docs (Debian `python-django-doc`) as `ExtractedPage`s, the
evaluation set, and an on-disk vector cache keyed by model and text hash.

The extractor is generic HTML (main landmark, headings, blocks); nothing is Django-specific.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.html
import numpy as np
import numpy.typing as npt

from deskpilot.documents import ExtractedPage, Section
from deskpilot.indexing import ModelFiles

DOCS_ROOT = Path("/usr/share/doc/python-django-doc/html")
EVAL_SET = Path("/work/shared/eval/django_qa.jsonl")
OUT = Path(__file__).resolve().parent / "out"
BASE_URL = "https://docs.example.test/"

_DROP = {"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template"}
_BLOCKS = {
    "p", "div", "section", "article", "pre", "li", "ul", "ol", "dl", "dt", "dd", "table",
    "tr", "blockquote", "figure", "figcaption", "caption", "br", "hr", "main",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")


def require_docs() -> Path:
    if not (DOCS_ROOT / "index.html").is_file():
        sys.exit("Django docs missing: apt-get update && apt-get install -y python-django-doc")
    return DOCS_ROOT


def page_name(url: str) -> str:
    return url.removeprefix(BASE_URL)


def extract_html(html: bytes, url: str) -> ExtractedPage:
    root = lxml.html.fromstring(html)
    title = " ".join((root.findtext(".//title") or "").split())
    main = _main_element(root)
    events: list[tuple[str, Any]] = []
    _walk(main, events, preformatted=False)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []

    def flush() -> None:
        text = _normalise("".join(buffer))
        buffer.clear()
        if text:
            sections.append(Section(tuple(h for _, h in path), text))

    for kind, value in events:
        if kind == "heading":
            flush()
            level, text = value
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, text))
        else:
            buffer.append(value)
    flush()
    return ExtractedPage(url=url, title=title, language=root.get("lang"), sections=tuple(sections))


def _main_element(root: Any) -> Any:
    """The main landmark if the page has one; else descend from <body> while one child holds
    most of the text that is not link text (navigation and sidebars are mostly links)."""
    for query in ("//main", "//*[@role='main']", "//article"):
        found = root.xpath(query)
        if found:
            return found[0]
    bodies = root.xpath("//body")
    node = bodies[0] if bodies else root
    weights: dict[Any, int] = {}
    _plain_weight(node, weights)
    while True:
        children = [c for c in node if isinstance(c.tag, str) and c.tag not in _DROP]
        if not children or weights[node] == 0:
            return node
        best = max(children, key=lambda c: weights.get(c, 0))
        # A heading beside the best child belongs to it (a title above a code listing).
        if weights.get(best, 0) < 0.6 * weights[node] or any(c.tag in _HEADINGS for c in children):
            return node
        node = best


def _plain_weight(element: Any, weights: dict[Any, int]) -> int:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _DROP:
        weights[element] = 0
        return 0
    own = len((element.text or "").strip()) if tag != "a" else 0
    total = own + sum(
        _plain_weight(c, weights) + (len((c.tail or "").strip()) if tag != "a" else 0)
        for c in element
        if isinstance(c.tag, str)
    )
    if tag == "a":
        total //= 10
    weights[element] = total
    return total


def _walk(element: Any, events: list[tuple[str, Any]], *, preformatted: bool) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _DROP or element.get("role") in {"navigation", "search"}:
        _tail(element, events, preformatted)
        return
    if tag in _HEADINGS:
        text = " ".join(element.text_content().replace("\u00b6", "").split())
        if text:
            events.append(("heading", (_HEADINGS[tag], text)))
        _tail(element, events, preformatted)
        return
    pre = preformatted or tag == "pre"
    block = tag in _BLOCKS
    if block:
        events.append(("text", "\n\n"))
    if element.text:
        events.append(("text", element.text if pre else _WS.sub(" ", element.text)))
    for child in element:
        _walk(child, events, preformatted=pre)
    if tag in {"td", "th"}:
        events.append(("text", " "))
    if block:
        events.append(("text", "\n\n"))
    _tail(element, events, preformatted)


def _tail(element: Any, events: list[tuple[str, Any]], preformatted: bool) -> None:
    if element.tail:
        events.append(("text", element.tail if preformatted else _WS.sub(" ", element.tail)))


def _normalise(text: str) -> str:
    text = text.replace("\u00b6", "")
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in block.split("\n")]
        block = "\n".join(line for line in lines if line.strip())
        if block.strip():
            paragraphs.append(block.strip("\n"))
    return "\n\n".join(paragraphs)


def load_pages(root: Path | None = None, *, extractor: str = "crawler") -> list[ExtractedPage]:
    """Every HTML file of the docs, extracted by the product's crawler extractor
    (`deskpilot.crawler.extract_html`) or, with extractor="bench", by the one above."""
    docs = root or require_docs()
    extract = extract_html
    if extractor == "crawler":
        from deskpilot.crawler import extract_html as crawler_extract

        def extract(html: bytes, url: str) -> ExtractedPage:
            return crawler_extract(html, url, content_type="text/html").page

    pages = []
    for path in sorted(docs.rglob("*.html")):
        name = path.relative_to(docs).as_posix()
        pages.append(extract(path.read_bytes(), BASE_URL + name))
    return pages


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    question: str
    gold_pages: tuple[str, ...]
    answerable: bool
    kind: str


def load_eval() -> list[EvalItem]:
    items = []
    for line in EVAL_SET.read_text().splitlines():
        if line.strip():
            raw = json.loads(line)
            items.append(
                EvalItem(
                    id=raw["id"],
                    question=raw["question"],
                    gold_pages=tuple(raw["gold_pages"]),
                    answerable=bool(raw["answerable"]),
                    kind=raw.get("category") or raw.get("kind") or "",
                )
            )
    return items


def model_key(files: ModelFiles) -> str:
    """A `VectorCache` key for a built model: its folder name carries the weights' hash and
    the export version, so a rebuilt graph never reuses the old graph's vectors."""
    return f"{files.onnx_path.parent.name}-{files.precision}"


class VectorCache:
    """Vectors by (model key, sha256 of text) in one .npy per model key, so reruns with a
    different chunking only embed the new texts."""

    def __init__(self, key: str, dimension: int = 384) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self._path = OUT / f"vectors-{key}.npz"
        self._dimension = dimension
        self._index: dict[str, int] = {}
        self._rows: list[npt.NDArray[np.float32]] = []
        if self._path.is_file():
            data = np.load(self._path)
            self._rows = list(data["vectors"])
            self._index = {h: i for i, h in enumerate(data["hashes"].tolist())}

    def get_or_embed(
        self,
        texts: Sequence[str],
        embed: Callable[[list[str]], npt.NDArray[np.float32]],
        *,
        progress: bool = True,
    ) -> npt.NDArray[np.float32]:
        hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = sorted(
            {h: t for h, t in zip(hashes, texts, strict=True) if h not in self._index}.items()
        )
        step = 1024
        for start in range(0, len(missing), step):
            part = missing[start : start + step]
            vectors = embed([t for _, t in part])
            for (h, _), vector in zip(part, vectors, strict=True):
                self._index[h] = len(self._rows)
                self._rows.append(vector)
            if progress:
                print(f"  embedded {min(start + step, len(missing))}/{len(missing)}", flush=True)
            self.save()
        return np.stack([self._rows[self._index[h]] for h in hashes]).astype(np.float32)

    def save(self) -> None:
        hashes = np.array(sorted(self._index, key=self._index.__getitem__))
        np.savez(self._path, vectors=np.stack(self._rows), hashes=hashes)


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
