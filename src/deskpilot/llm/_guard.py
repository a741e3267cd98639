"""Leak guard: spots a reply that reproduces the AI profile or the BEHAVIORAL instructions.

Texts are compared as runs of normalised words (case, accents, punctuation and whitespace
ignored), so a reply that copies eight words in a row from a protected text is a leak.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

RUN_WORDS = 8
# Instructions shorter than a run are protected whole from this length; shorter ones are
# phrases like "Be concise." that a reply may say in passing without leaking anything.
MIN_SHORT_WORDS = 6

_WORD = re.compile(r"\w+")

Gram = tuple[str, ...]


def normalise_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def word_spans(text: str) -> list[tuple[str, int]]:
    """Normalised words of `text` with the offset where each starts."""
    return [(normalise_word(m.group()), m.start()) for m in _WORD.finditer(text)]


def _words(text: str) -> list[str]:
    return [normalise_word(m.group()) for m in _WORD.finditer(text)]


def _grams(words: Sequence[str], size: int) -> Iterable[Gram]:
    return (tuple(words[i : i + size]) for i in range(len(words) - size + 1))


class LeakGuard:
    """Protected runs of one profile and its instructions, built once per request."""

    def __init__(
        self,
        ai_profile: str | None,
        behavioral: Sequence[str],
        *,
        allowed: Sequence[str] = (),
    ) -> None:
        sequences = [_words(text) for text in [ai_profile or "", *behavioral]]
        allowed_words = [_words(text) for text in allowed]
        self._grams: dict[int, set[Gram]] = {}
        self._prefixes: set[Gram] = set()
        for words in sequences:
            if len(words) < MIN_SHORT_WORDS:
                continue
            size = min(RUN_WORDS, len(words))
            self._grams.setdefault(size, set()).update(_grams(words, size))
        # A run that the knowledge itself contains (a page quoting the same sentence as the
        # profile) is no secret, and a grounded reply may repeat it.
        for size, grams in self._grams.items():
            for words in allowed_words:
                grams.difference_update(_grams(words, size))
            for gram in grams:
                self._prefixes.update(gram[:k] for k in range(1, size))
        self.longest = max(self._grams, default=0)

    @property
    def active(self) -> bool:
        return any(self._grams.values())

    def leaks(self, text: str) -> bool:
        words = _words(text)
        return any(
            gram in grams for size, grams in self._grams.items() for gram in _grams(words, size)
        )

    def pending_from(self, text: str) -> int:
        """Offset from which `text` might still grow into a leak; `len(text)` when none.

        A streaming caller sends only what comes before it, so a protected run is cut off
        before its first word reaches the visitor.
        """
        if not self._prefixes:
            return len(text)
        spans = word_spans(text)
        hold = len(text)
        # The last word may still be growing ("helpf" → "helpful"): it is never final yet.
        if spans and _WORD.match(text[-1]):
            hold = spans[-1][1]
            spans = spans[:-1]
        words = [word for word, _ in spans]
        for index in range(max(0, len(words) - self.longest + 1), len(words)):
            if tuple(words[index:]) in self._prefixes:
                return spans[index][1]
        return hold


def contains_profile_leak(
    reply_text: str,
    ai_profile: str | None,
    behavioral: list[str],
    *,
    allowed: Sequence[str] = (),
) -> bool:
    """True when `reply_text` reproduces 8+ consecutive words of the profile or of an
    instruction (or a whole instruction of 6-7 words), ignoring case, accents, punctuation
    and whitespace. Runs that also occur in `allowed` texts (the passages) do not count."""
    return LeakGuard(ai_profile, behavioral, allowed=allowed).leaks(reply_text)
