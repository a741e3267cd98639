"""Text analysis for lexical search: words and code identifiers, stop words, stemming.

Visitors type chatty questions ("hi, I want to know how I can…"); without stop words
those filler words match tables of contents and index pages better than content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import Stemmer

_TOKEN = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Function words plus the filler of support questions; content words stay searchable.
_ENGLISH_STOP_WORD_TEXT = """
    a about above after again against all also am an and any anyone anything are aren as at
    be because been before being below between both but by can cannot could couldn did didn do
    does doesn doing don done down during each either else even ever every few for from further
    get gets getting got had hadn has hasn have haven having he her here hers herself him himself
    his how i if in into is isn it its itself just let lets like ll me might mine more most much
    must mustn my myself need needs no nor not now of off often on once only or other our ours
    ourselves out over own please pls plz re really same shall shan she should shouldn so some
    somebody someone something such than thank thanks that thats the their theirs them themselves
    then there these they thing things this those though through thx to too trying tried try
    under until up us ve very want wanna wants was wasn way ways we were weren what whats when
    where which while who whom whose why will with won would wouldn yeah yes yet you your yours
    yourself yourselves hi hello hey ok okay know seems seem thanks possible able d m s t y
"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_WORD_TEXT.split())


class Analyzer:
    """Lower-cased word tokens with English stop words removed and Snowball stemming.

    Identifiers also yield their parts (`list_display` → `list_display`, `list`, `display`;
    `ModelAdmin` → `modeladmin`, `model`, `admin`) so prose questions can match code names.
    """

    def __init__(
        self, *, language: str = "english", stop_words: Iterable[str] = ENGLISH_STOP_WORDS
    ) -> None:
        self._stemmer = Stemmer.Stemmer(language)
        self._stop = frozenset(stop_words)
        self._cache: dict[str, str] = {}

    def terms(self, text: str) -> list[str]:
        out: list[str] = []
        for raw in _TOKEN.findall(text):
            lowered = raw.lower()
            if lowered in self._stop:
                continue
            out.append(self._stem(lowered))
            parts = [p for p in raw.split("_") if p]
            if len(parts) == 1:
                parts = _CAMEL.findall(raw)
            if len(parts) > 1:
                out.extend(self._stem(p.lower()) for p in parts if p.lower() not in self._stop)
        return out

    def _stem(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            stem = self._stemmer.stemWord(word)
            # Bounded: vocabularies are large but finite; a flood of junk tokens is not.
            if len(self._cache) < 500_000:
                self._cache[word] = stem
        return stem
