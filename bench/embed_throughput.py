"""Embedding throughput: sentence-transformers on torch fp32 (the baseline) against
deskpilot's ONNX Runtime paths, in one process, rounds interleaved because the machine is
shared. Prints chunks/s, the ratio to the baseline of the same round, and cosine to fp32.

    .venv/bin/python bench/embed_throughput.py [--chunks 512] [--rounds 2] [--no-torch]

The baseline needs torch (`pip install torch==2.13.0`) and sentence-transformers; the
deskpilot paths need neither.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import time
from collections.abc import Callable

os.environ["HF_HUB_OFFLINE"] = "1"  # the baseline loads from the wheel's folder, never a hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import numpy.typing as npt
from _django import OUT, require_docs

from deskpilot.indexing import OnnxEmbedder, prepare_minilm, wheel_model_dir

Embed = Callable[[list[str]], npt.NDArray[np.float32]]


def sample_chunks(count: int, size: int = 760, seed: int = 7) -> list[str]:
    """Windows of ~`size` characters of documentation text, as a 1000/200 splitter makes."""
    import lxml.html

    docs = require_docs()
    files = sorted(p for p in docs.rglob("*.html") if "_modules" not in p.parts)
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        root = lxml.html.parse(str(rng.choice(files))).getroot()
        text = re.sub(r"\s+", " ", root.text_content()).strip()
        if len(text) > 2 * size:
            start = rng.randrange(0, len(text) - size)
            out.append(text[start : start + size])
    return out


def timed(embed: Embed, texts: list[str]) -> tuple[float, npt.NDArray[np.float32]]:
    embed(texts[:32])  # warm-up: first runs allocate and pick kernels
    started = time.perf_counter()
    vectors = embed(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-torch", action="store_true", help="skip the torch baselines")
    args = parser.parse_args()
    texts = sample_chunks(args.chunks)
    print(
        f"{len(texts)} chunks, mean {np.mean([len(t) for t in texts]):.0f} chars, "
        f"batch {args.batch_size}, max 256 tokens, {os.cpu_count()} cores"
    )

    paths: dict[str, Embed] = {}
    if not args.no_torch:
        import torch
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(wheel_model_dir()), device="cpu")
        model.max_seq_length = 256

        def st_fp32(batch: list[str]) -> npt.NDArray[np.float32]:
            return np.asarray(
                model.encode(batch, batch_size=args.batch_size, normalize_embeddings=True)
            )

        def st_bf16(batch: list[str]) -> npt.NDArray[np.float32]:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return st_fp32(batch)

        paths["torch fp32 (baseline)"] = st_fp32
        paths["torch bf16 autocast"] = st_bf16

    for precision in ("fp32", "int8"):
        embedder = OnnxEmbedder(
            prepare_minilm(OUT / "models", precision=precision), batch_size=args.batch_size
        )
        paths[f"onnx {precision}"] = embedder.embed_sync
        if precision == "int8":

            def via_event_loop(
                batch: list[str], e: OnnxEmbedder = embedder
            ) -> npt.NDArray[np.float32]:
                return asyncio.run(e.embed(batch))

            paths["onnx int8, async embed() (deskpilot default)"] = via_event_loop

    rates: dict[str, list[float]] = {name: [] for name in paths}
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    for round_number in range(args.rounds):
        for name, embed in paths.items():
            rate, vectors[name] = timed(embed, texts)
            rates[name].append(rate)
        print(
            f"round {round_number + 1}: "
            + ", ".join(
                f"{name.split(' (')[0]} {values[-1]:.1f}/s" for name, values in rates.items()
            )
        )

    baseline = "torch fp32 (baseline)" if "torch fp32 (baseline)" in paths else "onnx fp32"
    reference = vectors[baseline]
    print(f"\n{'path':48s} {'chunks/s':>9s} {'x base':>7s} {'cos mean':>9s} {'cos min':>8s}")
    for name, values in rates.items():
        ratios = [r / b for r, b in zip(values, rates[baseline], strict=True)]
        cosine = np.sum(vectors[name] * reference, axis=1)
        print(
            f"{name:48s} {statistics.median(values):9.1f} {statistics.median(ratios):7.2f} "
            f"{cosine.mean():9.4f} {cosine.min():8.4f}"
        )
    print("(x base: median over rounds of the ratio to the baseline in the same round)")


if __name__ == "__main__":
    main()
