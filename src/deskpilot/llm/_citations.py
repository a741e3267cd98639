"""`[n]` citation markers: the model's numbers become numbers into `Reply.citations`, and a
reply that cites nothing is matched to the sources it plainly draws on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deskpilot.llm._text import terms
from deskpilot.llm._types import Citation, Passage

# [1] · [1, 2] · [1][2] · [Passage 3] · [source #2] · 【1†source】, but never `items[1]` or
# anything inside code, which only looks like a marker.
_ONE = (
    r"(?:\[(?:(?:passage|source|answer|doc|ref)\s*)?#?\d{1,3}(?:\s*(?:,|;|&|and)\s*#?\d{1,3})*\]"
    r"|【\d{1,3}[^】]{0,20}】)"
)
_MARKER = re.compile(rf"[ \t]*(?<![\w)\]'\"])(?:{_ONE})+", re.IGNORECASE)
_CODE_SPAN = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_OPEN_MARKER = re.compile(r"(?:\[|【)[^\]】\n]{0,24}$")
_DONT_KNOW = re.compile(
    r"\b(?:i (?:don't|do not) know|i (?:couldn't|could not|can't|cannot) find|"
    r"(?:no|not) (?:have|find) (?:any )?information|not (?:in|covered by) the (?:passages|"
    r"information)|no (?:lo )?s[eé]|no tengo informaci[oó]n|je ne sais pas|"
    r"je n'ai pas (?:trouv[eé]|d'information)|wei(?:ß|ss) ich nicht|keine informationen)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Cited:
    text: str
    citations: list[Citation]
    # Every source cited, training included, in order of first citation.
    passage_ids: list[str]


def apply_citations(text: str, sources: list[Passage]) -> Cited:
    """Renumber the model's `[n]` (an index into `sources`, from 1) to `[k]` (an index into
    the returned citations, one per URL, in order of first use); drop unknown numbers and
    sources without a URL (training), keeping the latter as used."""
    citations: list[Citation] = []
    number_of: dict[str, int] = {}
    used: list[str] = []

    def renumber(match: re.Match[str]) -> str:
        # The digits of each bracket, skipping what follows a 【n (its "†source" tail).
        numbers = [int(n) for n in re.findall(r"(?<![\w†])\d{1,3}", match.group(0))]
        out: list[int] = []
        for number in numbers:
            if not 1 <= number <= len(sources):
                continue
            passage = sources[number - 1]
            if passage.id not in used:
                used.append(passage.id)
            if not passage.url:
                continue
            if passage.url not in number_of:
                citations.append(Citation(passage.url, passage.title, passage.id))
                number_of[passage.url] = len(citations)
            if number_of[passage.url] not in out:
                out.append(number_of[passage.url])
        if not out:
            return ""
        space = " " if match.group(0)[:1] in {" ", "\t"} else ""
        return space + "".join(f"[{k}]" for k in out)

    pieces: list[str] = []
    last = 0
    for code in _CODE_SPAN.finditer(text):
        pieces.append(_MARKER.sub(renumber, text[last : code.start()]))
        pieces.append(code.group())
        last = code.end()
    pieces.append(_MARKER.sub(renumber, text[last:]))
    return Cited("".join(pieces), citations, used)


def open_marker_at(text: str) -> int:
    """Where a marker that is still being written starts, else `len(text)`."""
    match = _OPEN_MARKER.search(text)
    return match.start() if match else len(text)


def attribute(text: str, sources: list[Passage]) -> list[Passage]:
    """Sources a marker-less reply draws on: most of its content words come from them."""
    reply_keys = {t.key for t in terms(text)}
    if len(reply_keys) < 4:
        return []
    scored: list[tuple[float, int, Passage]] = []
    for index, passage in enumerate(sources):
        keys = {t.key for t in terms(passage.text)}
        share = len(reply_keys & keys) / len(reply_keys)
        if share >= 0.5:
            scored.append((share, -index, passage))
    scored.sort(reverse=True)
    return [passage for _, _, passage in scored[:2]]


def says_dont_know(text: str) -> bool:
    return bool(_DONT_KNOW.search(text))
