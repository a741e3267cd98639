"""Heading-aware chunking: an `ExtractedPage` becomes chunks that fit an embedding window.

Chunks never cross a section boundary, carry their heading path, and get ids derived from
their page key, position and text, so re-chunking an unchanged page yields identical chunks.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deskpilot.documents import ExtractedPage, Section

# A counter takes many texts at once because real tokenizers are much faster in batches.
TokenCounter = Callable[[Sequence[str]], Sequence[int]]

_CHUNK_NAMESPACE = uuid.UUID("6f1c2a4e-0d7b-4f53-9a39-5b1f0c8e2d71")
_WORDISH = re.compile(r"\w+|[^\w\s]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


def approximate_token_count(texts: Sequence[str]) -> list[int]:
    """WordPiece-like estimate for providers whose tokenizer we do not have."""
    # Rare words split into several pieces; 1.3 pieces per word or symbol errs on the long side.
    return [int(len(_WORDISH.findall(text)) * 1.3) + 1 for text in texts]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable passage of a page."""

    chunk_id: str
    url: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    # Position of the chunk within its page, from 0.
    ordinal: int
    # SHA-256 of `embedding_text`: equal hashes can reuse a stored vector.
    content_hash: str
    # 0..1, page-level: 1 for ordinary content, towards 0 for generated listings (indexes,
    # tables of contents, source-code pages). Retrieval uses it as a prior so those pages,
    # present in every crawl, do not crowd out the content they point at.
    quality: float
    # The text the embedding model sees: heading context, then the passage.
    embedding_text: str

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)


class Chunker:
    """Splits pages into chunks of at most `max_tokens` model tokens, context prefix included.

    `target_tokens` is the size a chunk is packed to; `overlap_tokens` repeats the tail of the
    previous chunk of the same section so a sentence cut at a boundary is still found whole.
    """

    def __init__(
        self,
        *,
        count_tokens: TokenCounter = approximate_token_count,
        max_tokens: int = 256,
        target_tokens: int = 200,
        overlap_tokens: int = 32,
        special_tokens: int = 2,
    ) -> None:
        if not 16 <= target_tokens <= max_tokens:
            raise ValueError("target_tokens must be between 16 and max_tokens")
        self._count = count_tokens
        self._max = max_tokens - special_tokens
        self._target = min(target_tokens, self._max)
        self._overlap = overlap_tokens

    def chunk(self, page: ExtractedPage, *, page_key: str | None = None) -> list[Chunk]:
        """Chunk `page`; `page_key` (the page's id) seeds the chunk ids, else the page URL."""
        key = page_key or page.url
        # Untitled pages are known by their URL, in the index as in the embedding text.
        title = _clean(page.title) or page.url
        drafts: list[tuple[tuple[str, ...], str, str]] = []
        for section in page.sections:
            headings = tuple(h for h in (_clean(h) for h in section.heading_path) if h)
            prefix = context_prefix(title, headings)
            for body in self._split_section(section, prefix):
                drafts.append((headings, body, prefix + body))
        quality = page_quality([body for _, body, _ in drafts])
        chunks: list[Chunk] = []
        for ordinal, (headings, body, embedding_text) in enumerate(drafts):
            content_hash = hashlib.sha256(embedding_text.encode()).hexdigest()
            chunk_id = uuid.uuid5(_CHUNK_NAMESPACE, f"{key}\n{ordinal}\n{content_hash}")
            chunks.append(
                Chunk(
                    chunk_id=str(chunk_id),
                    url=page.url,
                    title=title,
                    heading_path=headings,
                    text=body,
                    ordinal=ordinal,
                    content_hash=content_hash,
                    quality=quality,
                    embedding_text=embedding_text,
                )
            )
        return chunks

    def _split_section(self, section: Section, prefix: str) -> list[str]:
        text = section.text.strip()
        if not text:
            return []
        budget = self._target - (self._count([prefix])[0] if prefix else 0)
        hard = self._max - (self._count([prefix])[0] if prefix else 0)
        # Deep heading paths can eat the window; the body always keeps a useful share.
        budget = max(budget, self._target // 2)
        hard = max(hard, budget)
        pieces = self._pieces(text, budget)
        sizes = list(self._count(pieces)) if pieces else []
        bodies: list[str] = []
        current: list[int] = []
        used = 0
        for index, size in enumerate(sizes):
            if current and used + size > budget:
                bodies.append(_join(pieces, current))
                current, used = self._overlap_tail(current, sizes, size, hard)
            current.append(index)
            used += size
        if current:
            bodies.append(_join(pieces, current))
        return bodies

    def _overlap_tail(
        self, current: list[int], sizes: list[int], incoming: int, hard: int
    ) -> tuple[list[int], int]:
        tail: list[int] = []
        used = 0
        for index in reversed(current):
            if used + sizes[index] > self._overlap or used + sizes[index] + incoming > hard:
                break
            tail.insert(0, index)
            used += sizes[index]
        return tail, used

    def _pieces(self, text: str, budget: int) -> list[str]:
        """Paragraphs, broken into lines, sentences and finally word runs until each fits."""
        pieces: list[str] = []
        for paragraph in _PARAGRAPH_BREAK.split(text):
            paragraph = paragraph.strip()
            if paragraph:
                pieces.extend(self._fit(paragraph, budget, level=0))
        return pieces

    def _fit(self, text: str, budget: int, *, level: int) -> list[str]:
        if self._count([text])[0] <= budget:
            return [text]
        if level == 0:
            parts = [line.strip() for line in text.split("\n") if line.strip()]
        elif level == 1:
            parts = [part for part in _SENTENCE_END.split(text) if part.strip()]
        else:
            return self._word_runs(text, budget)
        if len(parts) <= 1:
            return self._fit(text, budget, level=level + 1)
        out: list[str] = []
        for part in parts:
            out.extend(self._fit(part, budget, level=level + 1))
        # Lines of code or short list items re-join so a chunk is not one line per piece.
        return _regroup(out, "\n" if level == 0 else " ", self._count, budget)

    def _word_runs(self, text: str, budget: int) -> list[str]:
        words = text.split()
        counts = self._count(words)
        runs: list[str] = []
        start, used = 0, 0
        for index, size in enumerate(counts):
            if index > start and used + size > budget:
                runs.append(" ".join(words[start:index]))
                start, used = index, 0
            used += size
        runs.append(" ".join(words[start:]))
        return runs


def context_prefix(title: str, headings: Sequence[str]) -> str:
    """The line that heads a chunk's embedding text, newline included ("" without context).

    `context_prefix(chunk.title, chunk.heading_path) + chunk.text == chunk.embedding_text`,
    so stored chunks can be re-embedded from their fields. The title is dropped when the
    first heading already names the page (titles usually carry a site suffix it lacks).
    """
    parts = [h for h in (_clean(h) for h in headings) if h]
    title = _clean(title)
    if title and not (parts and title.lower().startswith(parts[0].lower())):
        parts.insert(0, title)
    return " > ".join(parts) + "\n" if parts else ""


def page_quality(texts: Sequence[str]) -> float:
    """1 for ordinary content; lower for pages that are mostly code or mostly lists of names.

    Judged on the whole page, not per chunk: a code example inside a guide is content, a
    page that is nothing but a source listing or an index is not. The thresholds sit where
    hand-written documentation pages end (about 65 % code lines at most in the Django and
    PostgreSQL manuals) and generated listings begin (80 % and up).
    """
    text = "\n".join(texts)
    if not text.strip():
        return 0.0
    code = code_share(text)
    prose = _mean([prose_score(t) for t in texts])
    code_penalty = min(max((code - 0.7) / 0.25, 0.0), 1.0)
    listing_penalty = min(max((0.3 - prose) / 0.3, 0.0), 1.0)
    return round(1.0 - max(code_penalty, listing_penalty), 4)


_CODE_LINE = re.compile(
    r"^\s{2,}\S|[;{}()\[\]:,\\]\s*$|\s=\s|==|\(\)"
    r"|^(def|class|return|import|from|if|for|elif|else|try|except|with|raise|var|let|const)\b"
    r"|^[@#$]"
)
_SENTENCE_LINE = re.compile(r"[^\W\d_]{3,}[.!?]$")


def code_share(text: str) -> float:
    """Share of characters on lines that look like source code (in most languages)."""
    lines = [line for line in text.split("\n") if line.strip()]
    total = sum(len(line) for line in lines)
    if not total:
        return 0.0
    code = sum(
        len(line)
        for line in lines
        if _CODE_LINE.search(line) and not _SENTENCE_LINE.search(line.strip())
    )
    return code / total


_PROSE_WORD = re.compile(r"^[^\W\d_]{2,}[.,;:!?)\"']*$")


def prose_score(text: str) -> float:
    """Share of the text in sentence-like runs of ordinary words.

    Indexes, tables of contents and source listings are mostly identifiers, symbols and
    short unpunctuated lines; prose is long runs of plain words ending in punctuation. The
    signal needs no language-specific word list.
    """
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]
    if not sentences:
        return 0.0
    prose_chars = 0
    total_chars = 0
    for sentence in sentences:
        tokens = sentence.split()
        total_chars += len(sentence)
        if len(tokens) < 5:
            continue
        plain = sum(1 for token in tokens if _PROSE_WORD.match(token))
        if plain / len(tokens) >= 0.6 and sentence.rstrip()[-1:] in ".!?:;)\"'":
            prose_chars += len(sentence)
        elif plain / len(tokens) >= 0.75:
            prose_chars += len(sentence) // 2
    return prose_chars / total_chars if total_chars else 0.0


def _regroup(parts: list[str], sep: str, count: TokenCounter, budget: int) -> list[str]:
    sizes = count(parts)
    groups: list[str] = []
    current: list[str] = []
    used = 0
    for part, size in zip(parts, sizes, strict=True):
        if current and used + size > budget:
            groups.append(sep.join(current))
            current, used = [], 0
        current.append(part)
        used += size
    if current:
        groups.append(sep.join(current))
    return groups


def _join(pieces: list[str], indexes: list[int]) -> str:
    return "\n\n".join(pieces[i] for i in indexes)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
