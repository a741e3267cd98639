"""An incremental BM25F inverted index over integer slots, in NumPy.

Postings grow by appending; removing a slot lowers document frequencies at once and leaves
a tombstone that queries mask out until `compact` rewrites the postings.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
_Scalar = TypeVar("_Scalar", bound=np.generic)


class LexicalIndex:
    """BM25F with the context (title and headings) as a boosted field.

    `score` returns, per slot, the BM25 score divided by the best score the query could
    reach (every term present, saturated): a value in [0, 1) that reads as "how much of the
    query's information this passage matches", comparable across corpora of any size.
    A query term the corpus lacks is matched, at `typo_weight`, to a known term one edit away.
    """

    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        context_weight: float = 2.0,
        typo_weight: float = 0.8,
        typo_min_length: int = 5,
    ) -> None:
        self._k1 = k1
        self._typo_weight = typo_weight
        self._typo_min_length = typo_min_length
        self._b = b
        self._context_weight = context_weight
        self._vocab: dict[str, int] = {}
        self._slots: list[array[int]] = []
        self._weights: list[array[float]] = []
        self._df = np.zeros(1024, dtype=np.int32)
        self._doc_len = np.zeros(1024, dtype=np.float32)
        self._removed = np.zeros(1024, dtype=bool)
        self._doc_terms: list[npt.NDArray[np.int32] | None] = []
        self._live = 0
        self._total_len = 0.0

    @property
    def size(self) -> int:
        return self._live

    def add(self, slot: int, body_terms: Sequence[str], context_terms: Sequence[str]) -> None:
        if slot != len(self._doc_terms):
            raise ValueError("slots must be added in order")
        weights: dict[str, float] = {}
        for term in body_terms:
            weights[term] = weights.get(term, 0.0) + 1.0
        for term in context_terms:
            weights[term] = weights.get(term, 0.0) + self._context_weight
        term_ids = np.empty(len(weights), dtype=np.int32)
        for position, (term, weight) in enumerate(weights.items()):
            term_id = self._vocab.get(term)
            if term_id is None:
                term_id = len(self._vocab)
                self._vocab[term] = term_id
                self._slots.append(array("i"))
                self._weights.append(array("f"))
            self._slots[term_id].append(slot)
            self._weights[term_id].append(weight)
            term_ids[position] = term_id
        self._df = _fit(self._df, len(self._vocab))
        np.add.at(self._df, term_ids, 1)
        length = float(len(body_terms) + len(context_terms))
        self._doc_len = _fit(self._doc_len, slot + 1)
        self._doc_len[slot] = length
        self._removed = _fit(self._removed, slot + 1)
        self._removed[slot] = False
        self._doc_terms.append(term_ids)
        self._live += 1
        self._total_len += length

    def remove(self, slot: int) -> None:
        term_ids = self._doc_terms[slot]
        if term_ids is None:
            return
        np.subtract.at(self._df, term_ids, 1)
        self._doc_terms[slot] = None
        self._live -= 1
        self._total_len -= float(self._doc_len[slot])
        self._doc_len[slot] = 0.0
        self._removed[slot] = True

    def score(self, terms: Sequence[str], n_slots: int) -> FloatArray:
        """Normalised scores for slots [0, n_slots); removed slots score 0."""
        scores = np.zeros(n_slots, dtype=np.float32)
        unique = list(dict.fromkeys(terms))
        if not unique or self._live == 0:
            return scores
        n = self._live
        avg_len = self._total_len / n
        k1, b = self._k1, self._b
        ceiling = 0.0
        for term in unique:
            term_id = self._vocab.get(term)
            df = int(self._df[term_id]) if term_id is not None else 0
            weight = 1.0
            if df == 0:
                term_id, df = self._correct(term)
                weight = self._typo_weight
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            # Terms the corpus lacks still count in the ceiling: an out-of-scope question's
            # unknown words lower its score instead of vanishing.
            ceiling += idf * (k1 + 1.0)
            if term_id is None or df == 0:
                continue
            slots = np.frombuffer(self._slots[term_id], dtype=np.int32)
            tf = np.frombuffer(self._weights[term_id], dtype=np.float32)
            norm = k1 * (1.0 - b + b * self._doc_len[slots] / avg_len)
            # Slots are unique within one term's postings, so fancy-index += is safe.
            scores[slots] += weight * idf * tf * (k1 + 1.0) / (tf + norm)
        if ceiling > 0:
            scores /= ceiling
        # Removed slots keep their postings until compaction.
        limit = min(n_slots, len(self._doc_terms))
        scores[:limit][self._removed[:limit]] = 0.0
        return scores

    def _correct(self, term: str) -> tuple[int | None, int]:
        """The most frequent indexed term one edit away (a deletion, insertion, substitution
        or swap of neighbours), for visitors' typos; short words are left alone because one
        edit turns them into unrelated words too easily."""
        if len(term) < self._typo_min_length or not term.isalpha():
            return None, 0
        best: tuple[int | None, int] = (None, 0)
        for candidate in _one_edit(term):
            term_id = self._vocab.get(candidate)
            if term_id is not None and int(self._df[term_id]) > best[1]:
                best = (term_id, int(self._df[term_id]))
        return best

    def compact(self, mapping: npt.NDArray[np.int32]) -> None:
        """Renumber slots: `mapping[old]` is the new slot, or -1 for a removed one."""
        for term_id in range(len(self._slots)):
            slots = np.frombuffer(self._slots[term_id], dtype=np.int32)
            tf = np.frombuffer(self._weights[term_id], dtype=np.float32)
            new = mapping[slots]
            keep = new >= 0
            self._slots[term_id] = array("i", new[keep].astype(np.int32).tobytes())
            self._weights[term_id] = array("f", tf[keep].tobytes())
        live = [i for i, terms in enumerate(self._doc_terms) if terms is not None]
        doc_len = np.zeros(max(1024, len(live)), dtype=np.float32)
        for old in live:
            doc_len[mapping[old]] = self._doc_len[old]
        self._doc_len = doc_len
        self._removed = np.zeros(len(doc_len), dtype=bool)
        self._doc_terms = [self._doc_terms[old] for old in live]

    def memory_bytes(self) -> int:
        postings = sum(len(s) * 8 for s in self._slots)
        terms = sum(t.nbytes for t in self._doc_terms if t is not None)
        return postings + terms + self._df.nbytes + self._doc_len.nbytes


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _one_edit(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [left + right[1:] for left, right in splits if right]
    swaps = [left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1]
    replaces = [left + c + right[1:] for left, right in splits if right for c in _LETTERS]
    inserts = [left + c + right for left, right in splits for c in _LETTERS]
    return set(deletes + swaps + replaces + inserts)


def _fit(values: npt.NDArray[_Scalar], size: int) -> npt.NDArray[_Scalar]:
    """Grow by doubling so appends stay amortised O(1)."""
    if size <= len(values):
        return values
    grown = np.zeros(max(size, 2 * len(values)), dtype=values.dtype)
    grown[: len(values)] = values
    return grown
