"""Search latency: p50/p95 of one hybrid search over the Django docs index and over one
org grown to 50,000 chunks (extra chunks spliced from real chunks: text halves of two
chunks, vector the normalised mean of theirs), plus index build time and memory.

    .venv/bin/python bench/search_latency.py [--size 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import numpy.typing as npt
from _django import OUT, VectorCache, load_eval, load_pages, model_key

from deskpilot.indexing import Chunk, Chunker, OnnxEmbedder, prepare_minilm
from deskpilot.retrieval import OrgIndex


def percentiles(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  max {ms.max():6.2f} ms"


def build(
    pages: list[tuple[str, list[Chunk]]], vectors: npt.NDArray[np.float32]
) -> tuple[OrgIndex, float]:
    """Rebuild from stored chunks and vectors, as a process does at start-up."""
    started = time.perf_counter()
    index = OrgIndex(dimension=vectors.shape[1], initial_capacity=len(vectors))
    row = 0
    for page_id, chunks in pages:
        datasource = f"ds{len(page_id) % 3}"
        index.add_page(page_id, chunks, vectors[row : row + len(chunks)], datasource_id=datasource)
        row += len(chunks)
    return index, time.perf_counter() - started


def measure(
    index: OrgIndex,
    questions: list[str],
    vectors: npt.NDArray[np.float32],
    repeat: int,
    **kwargs: object,
) -> list[float]:
    samples = []
    for _ in range(repeat):
        for question, vector in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            index.search(question, vector, limit=10, **kwargs)  # type: ignore[arg-type]
            samples.append(time.perf_counter() - started)
    return samples


def synthetic(
    pages: list[tuple[str, list[Chunk]]], vectors: npt.NDArray[np.float32], extra: int
) -> tuple[list[tuple[str, list[Chunk]]], npt.NDArray[np.float32]]:
    flat = [c for _, chunks in pages for c in chunks]
    rng = random.Random(11)
    made: list[tuple[str, list[Chunk]]] = []
    rows = []
    per_page = 20
    for start in range(0, extra, per_page):
        page_chunks = []
        for k in range(min(per_page, extra - start)):
            a, b = rng.randrange(len(flat)), rng.randrange(len(flat))
            first, second = flat[a], flat[b]
            text = first.text[: len(first.text) // 2] + " " + second.text[len(second.text) // 2 :]
            page_chunks.append(
                Chunk(
                    chunk_id=f"syn-{start + k}",
                    url=f"https://synthetic.test/{start // per_page}",
                    title=first.title,
                    heading_path=first.heading_path,
                    text=text,
                    ordinal=k,
                    content_hash="",
                    quality=first.quality,
                    embedding_text=text,
                )
            )
            mean = vectors[a] + vectors[b]
            rows.append(mean / np.linalg.norm(mean))
        made.append((f"synthetic-{start // per_page}", page_chunks))
    return pages + made, np.concatenate([vectors, np.asarray(rows, dtype=np.float32)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    files = prepare_minilm(OUT / "models", precision="int8")
    embedder = OnnxEmbedder(files)
    chunker = Chunker(count_tokens=embedder.count_tokens)
    pages = [(page.url, chunker.chunk(page)) for page in load_pages()]
    texts = [c.embedding_text for _, chunks in pages for c in chunks]
    vectors = VectorCache(model_key(files)).get_or_embed(texts, embedder.embed_sync)
    questions = [item.question for item in load_eval()]
    query_vectors = embedder.embed_sync(questions)

    # End-to-end includes embedding the question (one text, as the agent does per turn).
    encode = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_sync([question])
        encode.append(time.perf_counter() - started)
    print(f"query embedding (int8, 1 text): {percentiles(encode)}")

    for label, (all_pages, all_vectors) in {
        "django": (pages, vectors),
        f"{args.size:,}": synthetic(pages, vectors, max(0, args.size - len(vectors))),
    }.items():
        index, seconds = build(all_pages, all_vectors)
        text_bytes = sum(len(c.text) + len(c.embedding_text) for _, cs in all_pages for c in cs)
        print(
            f"\n[{label}] {index.chunk_count:,} chunks in {index.page_count:,} pages: built in "
            f"{seconds:.1f}s ({index.chunk_count / seconds:,.0f} chunks/s); vectors and "
            f"postings {index.memory_bytes() / 1e6:.0f} MB, "
            f"chunk text held {text_bytes / 1e6:.0f} MB"
        )
        measure(index, questions[:5], query_vectors[:5], 1)  # warm-up
        variants: dict[str, dict[str, object]] = {
            "search, limit 10": {},
            "search, one chunk per page": {"max_per_page": 1},
            "search, datasource filter": {"datasource_ids": ["ds1"]},
        }
        for name, kwargs in variants.items():
            samples = measure(index, questions, query_vectors, args.repeat, **kwargs)
            print(f"  {name + ':':34s}{percentiles(samples)}")
        searches = measure(index, questions, query_vectors, args.repeat)
        combined = [e + s for e, s in zip(encode * args.repeat, searches, strict=True)]
        print(f"  {'embed question + search:':34s}{percentiles(combined)}")
        started = time.perf_counter()
        for page_id, _ in all_pages[:50]:
            index.remove_page(page_id)
        print(f"  remove 50 pages: {(time.perf_counter() - started) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
