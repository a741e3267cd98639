"""Text handling for grounding: terms (code identifiers kept whole), stop-words, a light
stemmer, and splitting a passage into sentences, list items and code blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# English carries most documentation; the es/fr/de lists keep a visitor's function words
# from matching passages by accident.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each else ever every few for from further get gets getting
    got had hadn't has hasn't have haven't having he her here hers herself him himself his how
    however i i'd i'll i'm i've if in into is isn't it it's its itself just let's like make
    makes me might more most much must my myself need needs no nor not now of off on once one
    only or other ought our ours ourselves out over own please pls really same say says see
    seems shall she should shouldn't so some such than that that's the their theirs them
    themselves then there there's these they they're thing things this those though through to
    too try trying u under until up upon us use used using very want wants was wasn't way we
    we're we've well were weren't what what's whats when where which while who whom why will
    with within without won't would wouldn't yes yet you you'd you'll you're you've your yours
    yourself yourselves im ive dont cant doesnt isnt wont thanks thank hi hello hey ok okay
    able across actually already always another anyone anything around ask asked back best
    better come comes could did done either enough etc even example first go going good great
    hey keep kind know lot many maybe may mean means new next often right say set simply since
    something still sure take tell thing think trying two usually via wanna whether yeah
    el la los las un una unos unas de del al y o en que es por para con sin mi mis tu tus su
    sus se lo le les como mas pero si no este esta estos estas ese esa hay ser estar tengo
    quiero puedo cómo qué cuál cuándo dónde
    le la les un une des de du au aux et ou en que qui est pour par avec sans mon ma mes ton ta
    tes son sa ses ce cet cette ces il elle ils elles je tu nous vous on ne pas plus comment
    quoi quel quelle est-ce
    der die das den dem des ein eine einen einem einer und oder in im am an auf für mit ohne
    ist sind ich du er sie es wir ihr mein meine dein deine sein seine wie was wo wann warum
    nicht kein keine auch noch nur kann können möchte will
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Identifiers, dotted paths, calls, template tags, flags, settings: the words a technical
# answer hinges on (`list_display`, `cache_page()`, `--empty`, `{% load`, `-pub_date`).
_TERM = re.compile(
    r"\{%\s*\w+"
    r"|(?<![\w-])--?[A-Za-z][\w-]*"
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\(\))?"
    r"|\d+(?:[.,]\d+)*"
    r"|[^\W\d_]+(?:['\u2019][^\W\d_]+)?",
    re.UNICODE,
)
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2,}[a-z]")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

_INFLECTIONS = (
    ("ings", ""),
    ("ing", ""),
    ("ied", "y"),
    ("ies", "y"),
    ("ed", ""),
    ("es", "e"),
    ("ly", ""),
    ("s", ""),
)
_DERIVATIONS = (("ations", ""), ("ation", ""), ("at", ""))


# Spellings that support questions and docs use interchangeably.
_ALIASES = {"login": "log", "logins": "log", "logon": "log", "signin": "sign", "signup": "sign"}


def stem(word: str) -> str:
    """A light, consistent English stemmer: `cache`, `caches`, `cached` and `caching` all
    become `cach`; `migrate` and `migration` meet at `migr`. Consistency matters here, not
    linguistics: both sides of a comparison go through the same function."""
    if word in _ALIASES:
        return _ALIASES[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in _INFLECTIONS:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)] + replacement
            break
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    for suffix, replacement in _DERIVATIONS:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    return word


def is_code_term(token: str) -> bool:
    return (
        "_" in token
        or "." in token.strip(".")
        or token.endswith("()")
        or token.startswith(("-", "{%"))
        or bool(_CAMEL.search(token))
    )


@dataclass(frozen=True, slots=True)
class Term:
    key: str
    code: bool


def terms(text: str) -> list[Term]:
    """Content terms of `text`, stop-words dropped, each with whether it is code-like.

    Code terms also yield their parts (`list_display` → `list`, `display`) so prose that
    names the same idea in words still meets them.
    """
    out: list[Term] = []
    for match in _TERM.finditer(text):
        raw = match.group()
        if raw.startswith("{%"):
            out.append(Term("{% " + raw[2:].strip().lower(), True))
            continue
        token = raw.lower().rstrip(".")
        if is_code_term(raw) and len(token) > 1:
            out.append(Term(token, True))
            spaced = _CAMEL_BOUNDARY.sub(" ", raw).lower()
            for part in re.split(r"[._()\-\s]+", spaced):
                if len(part) > 2 and part not in STOP_WORDS:
                    out.append(Term(stem(part), False))
            continue
        token = token.replace("\u2019", "'")
        if raw in {"OR", "AND", "NOT"}:
            # Upper-case operators ("an OR query") are the point of the question.
            out.append(Term(raw.lower(), True))
            continue
        if token in STOP_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        out.append(Term(stem(token), False))
    return out


BlockKind = Literal["sentence", "item", "code"]


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str
    # Index of the paragraph the block came from, so neighbours can be found.
    paragraph: int
    position: int


_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "etc.",
    "vs.",
    "cf.",
    "approx.",
    "no.",
    "p.ej.",
    "z.b.",
    "bzw.",
    "ca.",
    "env.",
    "mr.",
    "dr.",
)
# A sentence ends at . ! ? followed by space and an upper-case letter, a digit, a quote or
# code; never inside "e.g. foo" or a dotted path (`django.db.models`).
_SENTENCE_END = re.compile(
    '(?<=[.!?])["\u201d\u2019)\\]]*\\s+(?=["\u201c\u2018(`\\[]?[A-Z0-9\u00c0-\u00dd\u00bf\u00a1])'
)
_CODE_LINE = re.compile(
    r"^\s*(?:>>>|\.\.\.|\$ |#!|@\w|def |class |from \w|import \w|return\b|if .*:$|for .*:$"
    r"|\{%|\{\{|<[a-zA-Z/!]|[\w.\[\]'\"]+\s*(?:=|\+=|-=)\s*\S|[\w.]+\(.*\)[,;:]?$|[})\]],?$)"
)
# Lines that are code even inside a prose paragraph (extractors often drop the indent).
_STRICT_CODE_LINE = re.compile(
    r"^\s*(?:>>>|\$ |from [\w.]+ import |import [\w.]+\s*$|def \w+\(|class \w+[(:]|"
    r"@[\w.]+(?:\(|$)|\{%|\{\{|<[a-z][\w-]*[ >/])"
)
_PILCROW = re.compile(r"[¶§]")


def _is_code_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if line.startswith(("    ", "\t")):
        return True
    return bool(_CODE_LINE.match(line))


def _looks_like_code(lines: list[str]) -> bool:
    code = sum(_is_code_line(line) for line in lines)
    if len(lines) == 1:
        line = lines[0].strip()
        # A lone shell command or statement, not a sentence that happens to contain "=".
        return (
            code == 1
            and not line.endswith((".", "?", "!"))
            and len(line.split()) <= 12
            and not re.search(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}", line)
        )
    return code >= max(2, (len(lines) + 1) // 2)


def split_sentences(text: str) -> list[str]:
    protected = text
    for abbreviation in _ABBREVIATIONS:
        protected = re.sub(
            re.escape(abbreviation), abbreviation.replace(".", "\x00"), protected, flags=re.I
        )
    parts = _SENTENCE_END.split(protected)
    return [part.replace("\x00", ".").strip() for part in parts if part.strip()]


def blocks(text: str) -> list[Block]:
    """Split passage text (plain or Markdown) into sentences, list items and code blocks."""
    text = _PILCROW.sub("", text.replace("\r\n", "\n"))
    paragraphs: list[tuple[bool, list[str]]] = []
    current: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            if fenced:
                paragraphs.append((True, current))
                current, fenced = [], False
            else:
                if current:
                    paragraphs.append((False, current))
                current, fenced = [], True
            continue
        if fenced:
            current.append(line)
        elif not line.strip():
            if current:
                paragraphs.append((False, current))
            current = []
        else:
            current.append(line)
    if current:
        paragraphs.append((fenced, current))

    out: list[Block] = []
    for index, (is_fenced, lines) in enumerate(paragraphs):
        for kind, chunk in _paragraph_parts(lines, fenced=is_fenced):
            if kind == "code":
                out.append(Block("code", chunk, index, len(out)))
            elif kind == "item":
                out.append(Block("item", chunk, index, len(out)))
            else:
                for sentence in split_sentences(chunk):
                    out.append(Block("sentence", sentence, index, len(out)))
    return out


def _paragraph_parts(lines: list[str], *, fenced: bool) -> list[tuple[BlockKind, str]]:
    lines = [line.rstrip() for line in lines]
    if fenced:
        body = "\n".join(lines).strip("\n")
        return [("code", body)] if body.strip() else []
    if _looks_like_code(lines):
        return [("code", "\n".join(lines))]
    parts: list[tuple[BlockKind, str]] = []
    prose: list[str] = []
    code: list[str] = []

    def flush_prose() -> None:
        if prose:
            parts.append(("sentence", " ".join(line.strip() for line in prose)))
            prose.clear()

    def flush_code() -> None:
        if code:
            parts.append(("code", "\n".join(code)))
            code.clear()

    for line in lines:
        if _LIST_ITEM.match(line):
            flush_prose()
            flush_code()
            parts.append(("item", _LIST_ITEM.sub("", line, count=1).strip()))
        elif line.startswith(("    ", "\t")) or _STRICT_CODE_LINE.match(line):
            flush_prose()
            code.append(line)
        elif parts and parts[-1][0] == "item" and not prose and line.startswith(" "):
            # A wrapped list item continues on an indented line.
            kind, item = parts[-1]
            parts[-1] = (kind, f"{item} {line.strip()}")
        else:
            flush_code()
            prose.append(line)
    flush_prose()
    flush_code()
    return parts
