"""Retrieval quality on the Django docs eval set: hit@1, hit@5 and MRR@10 (pages ranked by
their best chunk) for dense-only, lexical-only and hybrid search, plus how well the top
score separates answerable from unanswerable questions.

    .venv/bin/python bench/retrieval_quality.py [--precision int8 fp32] [--target-tokens 200]

Needs `apt-get install python-django-doc`; vectors are cached under bench/out/.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import numpy.typing as npt
from _django import OUT, EvalItem, VectorCache, load_eval, load_pages, model_key, page_name

from deskpilot.indexing import Chunker, OnnxEmbedder, prepare_minilm
from deskpilot.retrieval import OrgIndex, Scoring

PIPELINES = {
    "dense": Scoring(dense_weight=1.0, lexical_weight=0.0, listing_penalty=0.0),
    "lexical": Scoring(dense_weight=0.0, lexical_weight=1.0, listing_penalty=0.0),
    "hybrid": Scoring(),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--precision", nargs="+", default=["int8"], choices=["int8", "fp32"])
    parser.add_argument("--target-tokens", type=int, default=200)
    parser.add_argument("--no-context", action="store_true", help="embed chunk text only")
    parser.add_argument("--misses", action="store_true", help="list the hybrid's rank-1 misses")
    parser.add_argument("--extractor", default="crawler", choices=["crawler", "bench"])
    args = parser.parse_args()

    started = time.perf_counter()
    pages = load_pages(extractor=args.extractor)
    print(
        f"extracted {len(pages)} pages ({args.extractor} extractor) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    items = load_eval()

    for precision in args.precision:
        files = prepare_minilm(OUT / "models", precision=precision)
        embedder = OnnxEmbedder(files)
        chunker = Chunker(count_tokens=embedder.count_tokens, target_tokens=args.target_tokens)
        started = time.perf_counter()
        per_page = [(page, chunker.chunk(page)) for page in pages]
        chunks = [chunk for _, page_chunks in per_page for chunk in page_chunks]
        print(f"\n[{precision}] {len(chunks)} chunks in {time.perf_counter() - started:.1f}s")
        texts = [c.text if args.no_context else c.embedding_text for c in chunks]
        vectors = VectorCache(model_key(files)).get_or_embed(texts, embedder.embed_sync)
        index = OrgIndex(dimension=embedder.dimension, initial_capacity=len(chunks))
        started = time.perf_counter()
        row = 0
        for page, page_chunks in per_page:
            index.add_page(page.url, page_chunks, vectors[row : row + len(page_chunks)])
            row += len(page_chunks)
        print(
            f"indexed in {time.perf_counter() - started:.1f}s, {index.memory_bytes() / 1e6:.0f} MB"
        )
        questions = embedder.embed_sync([item.question for item in items])

        print(f"{'pipeline':10s} {'hit@1':>6s} {'hit@5':>6s} {'MRR':>6s}   separation")
        for name, scoring in PIPELINES.items():
            ranks: list[int | None] = []
            top_answerable: list[float] = []
            top_unanswerable: dict[str, list[float]] = {}
            for item, vector in zip(items, questions, strict=True):
                hits = index.search(
                    item.question, vector, limit=10, max_per_page=1, scoring=scoring
                )
                top = hits[0].score if hits else 0.0
                if not item.answerable:
                    top_unanswerable.setdefault(item.kind, []).append(top)
                    continue
                top_answerable.append(top)
                pages_ranked = [page_name(hit.page_id) for hit in hits]
                rank = next(
                    (i for i, name in enumerate(pages_ranked) if name in item.gold_pages), None
                )
                ranks.append(rank)
            hit1 = np.mean([r is not None and r < 1 for r in ranks])
            hit5 = np.mean([r is not None and r < 5 for r in ranks])
            mrr = np.mean([1.0 / (r + 1) if r is not None else 0.0 for r in ranks])
            print(
                f"{name:10s} {hit1:6.3f} {hit5:6.3f} {mrr:6.3f}   "
                + separation(top_answerable, top_unanswerable)
            )
        if args.misses:
            misses(index, items, questions, PIPELINES["hybrid"])


def separation(answerable: list[float], unanswerable: dict[str, list[float]]) -> str:
    """Share of unanswerable questions handed off at the threshold that keeps 95 % (and
    100 %) of the answerable ones, and at the calibrated default of 0.5."""
    scores = np.asarray(answerable)
    every = np.asarray([s for values in unanswerable.values() for s in values])
    t95 = float(np.quantile(scores, 0.05))
    t100 = float(scores.min())
    kinds = " ".join(
        f"{kind}={np.mean(np.asarray(values) < t95):.2f}"
        for kind, values in sorted(unanswerable.items())
    )
    return (
        f"t95={t95:.3f}: {np.mean(every < t95):.0%} handed off ({kinds}); "
        f"t100={t100:.3f}: {np.mean(every < t100):.0%}; "
        f"at 0.5: answers {np.mean(scores >= 0.5):.0%} / hands off {np.mean(every < 0.5):.0%}; "
        f"median {np.median(scores):.3f} vs {np.median(every):.3f}"
    )


def misses(
    index: OrgIndex,
    items: list[EvalItem],
    questions: npt.NDArray[np.float32],
    scoring: Scoring,
) -> None:
    """The hybrid's failures at rank 1, so a regression shows which questions moved."""
    lines = []
    for item, vector in zip(items, questions, strict=True):
        if not item.answerable:
            continue
        hits = index.search(item.question, vector, limit=5, max_per_page=1, scoring=scoring)
        top = [page_name(hit.page_id) for hit in hits]
        if not top or top[0] not in item.gold_pages:
            lines.append(f"  {item.id} gold={','.join(item.gold_pages)} got={','.join(top[:3])}")
    print(f"hybrid misses at rank 1 ({len(lines)}):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
