"""The offline responder: a short extractive reply built from the best passage sentences, or
the matched scenario's own text; no model, no network, and no sentence of its own making."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deskpilot.llm._phrases import phrase
from deskpilot.llm._text import Block, blocks, terms
from deskpilot.llm._types import Citation, Passage, Reply, ReplyRequest, ReplyStream

# Question words that ask for a value: sentences with numbers or defaults answer them.
_VALUE_CUES = re.compile(
    r"\b(default|defaults|how (long|many|much|big|often)|limit|size|max(imum)?|min(imum)?|"
    r"expire|expires|timeout|version|versions|length|por defecto|défaut|standard)\b",
    re.I,
)
_HOW_CUES = re.compile(r"\b(how (do|can|to|should)|way to|can i|is there|steps?)\b", re.I)
_CONTRAST_CUES = re.compile(r"\b(difference|differ|vs\.?|versus|compared?)\b", re.I)
_CONTRAST_WORDS = re.compile(r"\b(whereas|while|unlike|difference|instead|rather than)\b", re.I)
_DIGIT = re.compile(r"\d")
_TROUBLE_CUES = re.compile(
    r"\b(?:\w+(?:Error|Exception|Warning|DoesNotExist|Configured|Operation)|error|errors|"
    r"warning|crash\w*|fail\w*|broken|exception|traceback|keeps?|throws?|getting|"
    r"[a-z]+\.[A-Z]\d{3}|40[0-9]|50[0-9])\b"
)
_ERROR_NAME = re.compile(
    r"\b(?:[A-Z]\w*(?:Error|Exception|Warning|DoesNotExist|Configured|Operation)|"
    r"[a-z]+\.[A-Z]\d{3})\b"
)
_FIX_WORDS = re.compile(
    r"\b(?:fix|solve|solution|resolve|avoid|instead|make sure|ensure|you (?:should|must|need"
    r"|can)|need to|set|use|add|call|wrap|configure|point)\b",
    re.IGNORECASE,
)
# "that directory", "these settings": the sentence leans on the one before it.
_DEMONSTRATIVE = re.compile(
    r"\b(?:this|that|these|those)\s+(?!is\b|was\b|are\b|will\b|can\b|would\b|should\b|"
    r"may\b|might\b|the\b|a\b|an\b|you\b|it\b|we\b|they\b|your\b|if\b|when\b)[a-z]{3,}\b"
)
# Sentences that lean on the one before ("This is why…", "To do so, …").
_ANAPHORA = re.compile(
    r"^\s*(this|that|these|those|it|its|they|such|doing so|to do (this|so|that)|failing to do so|"
    r"in (this|that|which|such) case|otherwise|however|instead|then|thus|hence|also|"
    r"additionally|for (this|that)|if so|the former|the latter|here|there)\b",
    re.I,
)
_INLINE_CODE = re.compile(r"`+([^`\n]*)`+")
_SPACE = re.compile(r"\s+")
_CODE_WEIGHT = 2.5

# An embedding function: texts in, unit-length vectors out (e.g. `Embedder.embed`).
Embed = Callable[[Sequence[str]], Awaitable[Sequence[Sequence[float]] | Any]]


@dataclass(slots=True)
class _Candidate:
    block: Block
    passage: Passage
    rank: int
    keys: frozenset[str]
    code: bool
    score: float = 0.0
    overlap: float = 0.0


@dataclass(frozen=True, slots=True)
class Composition:
    """What the offline responder chose and why: also the reply's debug record."""

    reply: Reply
    # Paragraphs of `reply.text`, the pieces `stream` yields.
    parts: list[str]
    # (passage id, sentence or block, score) for every piece the reply quotes.
    evidence: list[tuple[str, str, float]] = field(default_factory=list)


class OfflineResponder:
    """Grounded, extractive replies. Thresholds are on the 0..1 scale of `Reply.confidence`.

    `scenario_threshold`: a scenario scoring at least this is the reply, verbatim.
    `min_confidence`: below it the reply says it found nothing (and `withheld` says why).
    """

    name = "offline"

    def __init__(
        self,
        *,
        scenario_threshold: float = 0.45,
        min_confidence: float = 0.2,
        max_passages: int = 5,
        max_sentences: int = 5,
        max_prose_chars: int = 900,
        max_code_lines: int = 10,
        embed: Embed | None = None,
        semantic_weight: float = 0.5,
    ) -> None:
        self.scenario_threshold = scenario_threshold
        self.min_confidence = min_confidence
        self.max_passages = max_passages
        self.max_sentences = max_sentences
        self.max_prose_chars = max_prose_chars
        self.max_code_lines = max_code_lines
        self._embed = embed
        self.semantic_weight = semantic_weight

    async def reply(self, request: ReplyRequest) -> Reply:
        return (await self.compose_async(request)).reply

    def stream(self, request: ReplyRequest) -> ReplyStream:
        async def produce(finish: Callable[[Reply], None]) -> AsyncGenerator[str]:
            composition = await self.compose_async(request)
            for index, part in enumerate(composition.parts):
                yield part if index == 0 else f"\n\n{part}"
            finish(composition.reply)

        return ReplyStream(produce)

    async def compose_async(self, request: ReplyRequest) -> Composition:
        """`compose`, with sentence embeddings joining the lexical scores when configured."""
        if self._embed is None or self._matching_scenario(request) is not None:
            return self.compose(request)
        passages = self._passages(request)
        candidates = _candidates(passages)
        if not candidates:
            return self.compose(request)
        vectors = await self._embed([request.question, *(c.block.text for c in candidates)])
        rows = [list(map(float, row)) for row in vectors]
        question = rows[0]
        similarity = [sum(a * b for a, b in zip(question, row, strict=True)) for row in rows[1:]]
        return self._extract(request, passages, candidates, similarity)

    def compose(self, request: ReplyRequest) -> Composition:
        """The reply and its parts, from lexical evidence alone (no I/O)."""
        scenario = self._matching_scenario(request)
        if scenario is not None:
            text = scenario.text.strip()
            reply = Reply(
                text=text,
                citations=_citations([scenario]),
                passage_ids_used=[scenario.id],
                confidence=round(min(1.0, max(scenario.score, self.scenario_threshold)), 3),
                responder=self.name,
            )
            return Composition(reply, [text])
        passages = self._passages(request)
        return self._extract(request, passages, _candidates(passages), None)

    def _matching_scenario(self, request: ReplyRequest) -> Passage | None:
        usable = [s for s in request.scenarios if s.text.strip()]
        best = max(usable, key=lambda s: s.score, default=None)
        if best is None or best.score < self.scenario_threshold:
            return None
        return best

    def _passages(self, request: ReplyRequest) -> list[Passage]:
        passages = sorted((p for p in request.passages if p.text.strip()), key=lambda p: -p.score)[
            : self.max_passages
        ]
        top_score = max((p.score for p in passages), default=0.0)
        # Passages far below the best are retrieval noise, not a second opinion.
        return [p for p in passages if top_score <= 0 or p.score >= 0.35 * top_score]

    def _extract(
        self,
        request: ReplyRequest,
        passages: list[Passage],
        candidates: list[_Candidate],
        similarity: list[float] | None,
    ) -> Composition:
        top_score = max((p.score for p in passages), default=0.0)
        trouble = _TROUBLE_CUES.search(request.question) is not None
        query = _weights(request.question, errors=_error_names(request.question))
        if not query or not candidates:
            return self._no_answer(request, 0.0)

        idf = _idf(candidates)
        total = sum(weight * idf(key) for key, weight in query.items())
        value_cue = bool(_VALUE_CUES.search(request.question))
        how_cue = bool(_HOW_CUES.search(request.question))
        contrast_cue = bool(_CONTRAST_CUES.search(request.question))
        context = [
            frozenset(t.key for t in terms(f"{p.heading or ''} {p.title}")) for p in passages
        ]
        for index, cand in enumerate(candidates):
            # A sentence inherits half the weight of the words its section heading adds:
            # "Default: 2621440" answers a size question under FILE_UPLOAD_MAX_MEMORY_SIZE.
            inherited = context[cand.rank] - cand.keys
            cand.overlap = _cover(query, cand.keys, idf, total) + 0.25 * _cover(
                query, inherited, idf, total
            )
            relevance = cand.overlap
            if similarity is not None:
                # MiniLM cosine: ~0.2 is unrelated, ~0.7 a close paraphrase.
                semantic = max(0.0, min(1.0, (similarity[index] - 0.2) / 0.5))
                weight = self.semantic_weight
                relevance = (1 - weight) * cand.overlap + weight * semantic
            if relevance <= 0.05:
                continue
            text = cand.block.text
            bonus = 0.0
            if value_cue and _DIGIT.search(text):
                bonus += 0.08
            if value_cue and "default" in text.lower():
                bonus += 0.08
            if how_cue and _has_code(cand):
                bonus += 0.08
            if trouble and _FIX_WORDS.search(text):
                bonus += 0.1
            if contrast_cue and _CONTRAST_WORDS.search(text):
                bonus += 0.06
            words = len(text.split())
            shape = 0.6 if (cand.block.kind != "code" and words < 5) or words > 90 else 1.0
            if text.rstrip().endswith("?"):
                shape *= 0.5  # a question in the docs (a FAQ entry, a list of contents)
            relative = cand.passage.score / top_score if top_score > 0 else 1.0
            position = 1.0 / (1.0 + 0.015 * cand.block.position)
            cand.score = (relevance + bonus) * shape * position * (0.55 + 0.45 * relative)

        ranked = sorted((c for c in candidates if c.score > 0), key=lambda c: -c.score)
        if not ranked:
            return self._no_answer(request, 0.0)
        chosen = self._select(ranked, candidates, value_cue=value_cue)
        if not chosen:
            return self._no_answer(request, 0.0)

        used_passages: list[Passage] = []
        for cand in chosen:
            if cand.passage not in used_passages:
                used_passages.append(cand.passage)
        covered: set[str] = set()
        for cand in chosen:
            covered |= cand.keys
        for passage in passages:
            if passage in used_passages:
                covered |= {t.key for t in terms(f"{passage.heading or ''} {passage.title}")}
        coverage = _cover(query, covered, idf, total)
        grounding = max(p.score for p in used_passages)
        confidence = round(max(0.0, min(1.0, 0.55 * coverage + 0.45 * grounding)), 3)
        if confidence < self.min_confidence:
            return self._no_answer(request, confidence)

        citations = _citations(used_passages)
        number = {c.url: index + 1 for index, c in enumerate(citations)}
        parts = [phrase("intro", request.language)]
        # Chunks of one section (overlapping neighbours) read as one group under its heading.
        groups: dict[tuple[str | None, str | None], list[_Candidate]] = {}
        for passage in used_passages:
            groups.setdefault((passage.url, _heading(passage)), [])
        for cand in chosen:
            groups[(cand.passage.url, _heading(cand.passage))].append(cand)
        for (url, title), members in groups.items():
            order = _document_order([c.passage for c in members])
            members.sort(key=lambda c: (order[c.passage.id], c.block.position))
            parts.append(_render(title, members, number.get(url) if url else None))
        reply = Reply(
            text="\n\n".join(parts),
            citations=citations,
            passage_ids_used=[p.id for p in used_passages],
            confidence=confidence,
            responder=self.name,
        )
        evidence = [(c.passage.id, c.block.text, round(c.score, 4)) for c in chosen]
        return Composition(reply, parts, evidence)

    def _select(
        self, ranked: list[_Candidate], candidates: list[_Candidate], *, value_cue: bool
    ) -> list[_Candidate]:
        chosen: list[_Candidate] = []
        neighbours = _neighbours(candidates)
        seen_text: set[str] = set()

        def add(cand: _Candidate | None) -> bool:
            if cand is None or cand in chosen or _normal(cand.block.text) in seen_text:
                return False
            if cand.block.kind == "code":
                code = [c for c in chosen if c.block.kind == "code"]
                lines = sum(c.block.text.count("\n") + 1 for c in [*code, cand])
                if len(code) >= 2 or lines > self.max_code_lines:
                    return False
            elif (
                sum(1 for c in chosen if c.block.kind != "code") >= self.max_sentences
                or _prose_chars(chosen) + len(cand.block.text) > self.max_prose_chars
            ):
                return False
            chosen.append(cand)
            seen_text.add(_normal(cand.block.text))
            return True

        def add_with_context(cand: _Candidate, *, primary: bool) -> bool:
            before, after = neighbours.get(id(cand), (None, None))
            if cand.block.kind == "code" and (before is None or before.block.kind == "code"):
                # A bare code block says nothing on its own.
                return False
            if not add(cand):
                return False
            text = cand.block.text.rstrip()
            if (
                cand.block.kind == "code"
                or _ANAPHORA.match(cand.block.text)
                or _DEMONSTRATIVE.search(cand.block.text)
                or (not cand.code and before is not None and before.code and value_cue)
            ):
                # The sentence that introduces the example, that "this directory" points
                # back to, or that names the setting a bare "The default is 0" is about.
                add(before)
            if text.endswith(":") and after is not None:
                if after.block.kind == "item":
                    for item in _siblings(candidates, after)[:4]:
                        add(item)
                else:
                    add(after)
            elif (
                primary
                and after is not None
                and after.block.kind != "code"
                and (
                    _ANAPHORA.match(after.block.text)
                    or (not cand.code and after.code)
                    or (after.block.paragraph == cand.block.paragraph and after.overlap > 0)
                )
            ):
                add(after)  # the answer often lands in the sentence after the topic one
            if primary and cand.block.kind == "item":
                for item in _siblings(candidates, cand)[:4]:
                    add(item)
            return True

        for index, cand in enumerate(ranked):
            if chosen and cand.score < 0.45 * chosen[0].score:
                break
            # Another page must be nearly as good to earn a place next to the best one.
            if (
                chosen
                and cand.passage.url != chosen[0].passage.url
                and cand.score < 0.5 * chosen[0].score
            ):
                continue
            if chosen:
                covered = set().union(*(c.keys for c in chosen))
                near = any(
                    c.passage is cand.passage and abs(c.block.position - cand.block.position) == 1
                    for c in chosen
                )
                if not near and not (cand.keys - covered):
                    continue
            add_with_context(cand, primary=not chosen)
            if index > 12:
                break
        # A sentence that ends with ":" is only useful with what follows it.
        kept = []
        for cand in chosen:
            _, after = neighbours.get(id(cand), (None, None))
            dangling = cand.block.text.rstrip().endswith(":") and after not in chosen
            if not dangling or cand is chosen[0]:
                kept.append(cand)
        return kept

    def _no_answer(self, request: ReplyRequest, confidence: float) -> Composition:
        text = phrase("no_answer", request.language)
        reply = Reply(
            text=text,
            citations=[],
            passage_ids_used=[],
            confidence=round(confidence, 3),
            responder=self.name,
            withheld="no_evidence",
        )
        return Composition(reply, [text])


def _error_names(question: str) -> set[str]:
    return {m.group().lower() for m in _ERROR_NAME.finditer(question)}


def _weights(question: str, *, errors: set[str]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for term in terms(question):
        # The error a visitor pastes is in every sentence about it, the fix is not: it
        # should not outweigh the words that say what they were doing.
        weight = _CODE_WEIGHT if term.code and term.key not in errors else 1.0
        weights[term.key] = max(weights.get(term.key, 0.0), weight)
    return weights


def _candidates(passages: list[Passage]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for rank, passage in enumerate(passages):
        for block in blocks(passage.text):
            found = terms(block.text)
            if found:
                keys = frozenset(t.key for t in found)
                code = block.kind == "code" or any(t.code for t in found)
                out.append(_Candidate(block, passage, rank, keys, code))
    return out


def _idf(candidates: list[_Candidate]) -> Callable[[str], float]:
    count = len(candidates)
    df: dict[str, int] = {}
    for cand in candidates:
        for key in cand.keys:
            df[key] = df.get(key, 0) + 1

    def idf(key: str) -> float:
        # Terms in every block (the page's subject) still count a little; absent ones most.
        return math.log(1.0 + (count + 1) / (df.get(key, 0) + 0.5))

    return idf


def _cover(
    query: dict[str, float],
    keys: set[str] | frozenset[str],
    idf: Callable[[str], float],
    total: float,
) -> float:
    if total <= 0:
        return 0.0
    return sum(weight * idf(key) for key, weight in query.items() if key in keys) / total


def _neighbours(
    candidates: list[_Candidate],
) -> dict[int, tuple[_Candidate | None, _Candidate | None]]:
    out: dict[int, tuple[_Candidate | None, _Candidate | None]] = {}
    for index, cand in enumerate(candidates):
        before = candidates[index - 1] if index > 0 else None
        after = candidates[index + 1] if index + 1 < len(candidates) else None
        out[id(cand)] = (
            before if before is not None and before.passage is cand.passage else None,
            after if after is not None and after.passage is cand.passage else None,
        )
    return out


def _document_order(passages: list[Passage]) -> dict[str, int]:
    """Reading order of chunks of one section: a chunk that opens with text found inside
    another (the chunker repeats a chunk's tail at the start of the next) comes after it."""
    unique = list({p.id: p for p in passages}.values())
    after: dict[str, int] = {p.id: 0 for p in unique}
    for first in unique:
        for second in unique:
            opening = _normal(second.text)[:60]
            if first is not second and len(opening) >= 20 and opening in _normal(first.text):
                after[second.id] += 1
    ranked = sorted(unique, key=lambda p: after[p.id])
    return {p.id: index for index, p in enumerate(ranked)}


def _has_code(cand: _Candidate) -> bool:
    return cand.code


def _siblings(candidates: list[_Candidate], item: _Candidate) -> list[_Candidate]:
    return [
        c
        for c in candidates
        if c.passage is item.passage
        and c.block.kind == "item"
        and c.block.paragraph == item.block.paragraph
    ]


def _prose_chars(chosen: list[_Candidate]) -> int:
    return sum(len(c.block.text) for c in chosen if c.block.kind != "code")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _citations(passages: list[Passage]) -> list[Citation]:
    citations: list[Citation] = []
    seen: set[str] = set()
    for passage in passages:
        if passage.url and passage.url not in seen:
            seen.add(passage.url)
            citations.append(Citation(url=passage.url, title=passage.title, passage_id=passage.id))
    return citations


def _render(heading: str | None, chosen: list[_Candidate], number: int | None) -> str:
    lines: list[str] = [f"{heading}:"] if heading else []
    prose: list[str] = []
    marked = number is None

    def flush() -> None:
        nonlocal marked
        if prose:
            text = " ".join(prose)
            if not marked:
                # The marker follows the first prose run: that is what the source backs.
                text, marked = f"{text} [{number}]", True
            lines.append(text)
            prose.clear()

    for cand in chosen:
        text = cand.block.text.strip()
        if cand.block.kind == "code":
            flush()
            lines.append(f"```\n{text}\n```")
        elif cand.block.kind == "item":
            flush()
            lines.append(f"- {_plain(text)}")
        else:
            prose.append(_plain(text))
    flush()
    if not marked:
        if lines and not lines[0].endswith("```"):
            lines[0] = f"{lines[0]} [{number}]"
        else:
            lines.append(f"[{number}]")
    return "\n".join(lines)


def _heading(passage: Passage) -> str | None:
    """The most specific heading, unless it only repeats the page title."""
    if not passage.heading:
        return None
    parts = [p.strip() for p in re.split(r"\s+[>\u203a\u00bb/]\s+", passage.heading) if p.strip()]
    if not parts:
        return None
    last = _plain(parts[-1]).strip(" :¶")
    if not last or last.lower() == passage.title.strip().lower() or len(last) > 80:
        return None
    return last


def _plain(text: str) -> str:
    # Inline code marks go: the reply is read as plain text and "`Q` objects" should read
    # "Q objects"; code blocks keep their fences.
    return _SPACE.sub(" ", _INLINE_CODE.sub(r"\1", text)).strip()
