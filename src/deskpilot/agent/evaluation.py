"""Scoring an evaluation set (the format of the shared eval: one JSON object per line with
`question`, `gold_pages`, `answer_facts`, `answerable`) against the agent's outcomes."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Decisions that count as not answering: the right move on an unanswerable question.
DECLINING = frozenset({"handoff", "decline", "clarify"})
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    question: str
    answerable: bool
    gold_pages: tuple[str, ...]
    answer_facts: tuple[str, ...]
    group: str | None  # category (answerable) or kind (unanswerable)


def load_items(path: Path) -> list[EvalItem]:
    """Parse the set; a malformed line is an error naming its number."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(
                EvalItem(
                    id=str(raw.get("id") or f"line-{number}"),
                    question=str(raw["question"]),
                    answerable=bool(raw.get("answerable", True)),
                    gold_pages=tuple(raw.get("gold_pages") or ()),
                    answer_facts=tuple(raw.get("answer_facts") or ()),
                    group=raw.get("category") or raw.get("kind"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not an eval item ({exc})") from exc
    return items


def page_matches(url: str, gold: str) -> bool:
    """A gold page is named by its path relative to the site root (`ref/models/fields.html`):
    it matches a URL whose path ends with it at a segment boundary."""
    path = urlsplit(url).path
    gold = gold.lstrip("/")
    return path == "/" + gold or path.endswith("/" + gold)


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def has_fact(reply: str, facts: Iterable[str]) -> bool:
    """The reply contains any of the facts (case-insensitive, whitespace collapsed)."""
    text = _normal(reply)
    return any(_normal(fact) in text for fact in facts)


@dataclass(slots=True)
class ItemResult:
    item: EvalItem
    decision: str
    reply: str
    cited_urls: list[str]
    ranked_urls: list[str]  # retrieved pages, best first, distinct
    latency_ms: float
    leaked: bool = False
    confidence: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.decision not in DECLINING and self.decision != "silent"

    def gold_rank(self) -> int | None:
        for rank, url in enumerate(self.ranked_urls, start=1):
            if any(page_matches(url, gold) for gold in self.item.gold_pages):
                return rank
        return None

    def cites_gold(self) -> bool:
        return any(
            page_matches(url, gold) for url in self.cited_urls for gold in self.item.gold_pages
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "answerable": self.item.answerable,
            "decision": self.decision,
            "fact": has_fact(self.reply, self.item.answer_facts) if self.item.answerable else None,
            "cites_gold": self.cites_gold() if self.item.answerable else None,
            "gold_rank": self.gold_rank() if self.item.answerable else None,
            "latency_ms": round(self.latency_ms, 1),
            "leaked": self.leaked,
            "confidence": self.confidence,
            "timings_ms": self.timings_ms,
        }


@dataclass(slots=True)
class Report:
    results: list[ItemResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        answerable = [r for r in self.results if r.item.answerable]
        unanswerable = [r for r in self.results if not r.item.answerable]
        ranks = [r.gold_rank() for r in answerable]
        latencies = sorted(r.latency_ms for r in self.results)
        answered = [r for r in answerable if r.answered]
        declined = [r for r in unanswerable if not r.answered]
        return {
            "items": len(self.results),
            "answerable": {
                "count": len(answerable),
                "hit@1": _share(sum(1 for k in ranks if k == 1), len(answerable)),
                "hit@5": _share(sum(1 for k in ranks if k is not None and k <= 5), len(answerable)),
                "mrr": round(sum(1 / k for k in ranks if k) / len(answerable), 3)
                if answerable
                else None,
                "answer_rate": _share(len(answered), len(answerable)),
                "fact_rate": _share(
                    sum(1 for r in answered if has_fact(r.reply, r.item.answer_facts)),
                    len(answerable),
                ),
                "gold_citation_rate": _share(
                    sum(1 for r in answered if r.cites_gold()), len(answerable)
                ),
                "by_category": _by_group(answerable, lambda r: r.answered),
            },
            "unanswerable": {
                "count": len(unanswerable),
                "handoff_or_decline_rate": _share(len(declined), len(unanswerable)),
                # Of every reply that handed off or declined, the share that should have.
                "handoff_precision": _share(
                    len(declined),
                    len(declined) + sum(1 for r in answerable if not r.answered),
                ),
                "decisions": dict(Counter(r.decision for r in unanswerable)),
                "by_kind": _by_group(unanswerable, lambda r: not r.answered),
            },
            "leaks": sum(1 for r in self.results if r.leaked),
            "latency_ms": {
                "p50": _percentile(latencies, 50),
                "p95": _percentile(latencies, 95),
                "max": round(latencies[-1], 1) if latencies else None,
            },
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _by_group(results: Sequence[ItemResult], passed: Any) -> dict[str, str]:
    totals: Counter[str] = Counter()
    good: Counter[str] = Counter()
    for result in results:
        group = result.item.group or "-"
        totals[group] += 1
        good[group] += 1 if passed(result) else 0
    return {group: f"{good[group]}/{totals[group]}" for group in sorted(totals)}


def _percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(values)))
    return round(values[rank - 1], 1)
