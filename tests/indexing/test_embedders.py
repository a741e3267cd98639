from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deskpilot.errors import Upstream
from deskpilot.indexing import (
    Embedder,
    HashingEmbedder,
    ModelFiles,
    OnnxEmbedder,
    OpenAIEmbedder,
    prepare_minilm,
    wheel_model_dir,
)
from deskpilot.indexing._minilm_export import build_onnx, measure_activation_ranges


class TestOnnxEmbedder:
    async def test_vectors_are_unit_length_rows_in_input_order(
        self, embedder: OnnxEmbedder
    ) -> None:
        texts = ["short", "a much longer sentence about billing and invoices " * 5, "mid text"]
        vectors = await embedder.embed(texts)
        assert vectors.shape == (3, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        # Length sorting inside must not reorder the output.
        single = await embedder.embed([texts[1]])
        assert np.allclose(vectors[1], single[0], rtol=0, atol=1e-6)
        assert float(vectors[0] @ single[0]) < 0.9

    async def test_a_vector_does_not_depend_on_its_batch_mates(
        self, embedder: OnnxEmbedder
    ) -> None:
        # Per-tensor activation scales (ONNX Runtime's dynamic quantisation) moved this
        # vector by ~2e-2 in these batches; per-token scales leave mates nothing to move.
        text = "How do I reset my password?"
        mates = [
            "word " * 300,  # truncated to the window: pads `text` to 256 tokens
            "ZZZZ!!!! 99999999999 \u00a7\u00a7 0x7fffffff " * 30,  # rare tokens, big activations
            "a",
            "Refunds go to the original payment method within five working days.",
        ]
        alone = (await embedder.embed([text]))[0]
        # Up to 8 texts run as one batch; 21 go through length-sorted bulk batches of 8.
        for batch in ([text, *mates], [*mates, text], [*mates * 5, text]):
            vectors = await embedder.embed(batch)
            assert np.abs(vectors[batch.index(text)] - alone).max() <= 1e-6

    async def test_similar_texts_score_higher(self, embedder: OnnxEmbedder) -> None:
        query, near, far = await embedder.embed(
            [
                "How do I reset my password?",
                "To change a forgotten password, use the reset link on the login page.",
                "Our office is closed on public holidays.",
            ]
        )
        assert float(query @ near) > float(query @ far) + 0.2

    async def test_empty_input(self, embedder: OnnxEmbedder) -> None:
        assert (await embedder.embed([])).shape == (0, 384)

    async def test_event_loop_keeps_running_while_embedding(self, embedder: OnnxEmbedder) -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        await embedder.embed(["a paragraph of text about webhooks and retries " * 12] * 48)
        task.cancel()
        assert ticks >= 5

    async def test_a_question_does_not_wait_behind_bulk_indexing(
        self, embedder: OnnxEmbedder
    ) -> None:
        bulk = asyncio.create_task(
            embedder.embed(
                [f"chunk {i} about webhooks, retries and signatures " * 10 for i in range(160)]
            )
        )
        await asyncio.sleep(0.05)
        question = await embedder.embed(["how do retries work?"])
        assert not bulk.done()
        assert question.shape == (1, 384)
        assert (await bulk).shape == (160, 384)

    def test_satisfies_the_protocol(self, embedder: OnnxEmbedder) -> None:
        assert isinstance(embedder, Embedder)
        assert embedder.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2")

    def test_counts_tokens_without_truncating(self, embedder: OnnxEmbedder) -> None:
        assert embedder.count_tokens(["word " * 400])[0] == 400


class TestPrepareMinilm:
    def test_reuses_built_files(self, minilm_files: ModelFiles, tmp_path: Path) -> None:
        cache = minilm_files.onnx_path.parent.parent
        before = minilm_files.onnx_path.stat().st_mtime_ns
        again = prepare_minilm(cache)
        assert again == minilm_files
        assert again.onnx_path.stat().st_mtime_ns == before

    async def test_int8_stays_close_to_fp32(
        self, minilm_files: ModelFiles, embedder: OnnxEmbedder
    ) -> None:
        fp32 = OnnxEmbedder(prepare_minilm(minilm_files.onnx_path.parent.parent, precision="fp32"))
        texts = [
            "How do I reset my password?",
            "To change a forgotten password, use the reset link on the login page. " * 8,
            "QuerySet.filter(**kwargs) returns a new QuerySet containing matching objects.",
        ]
        try:
            cosine = np.sum(await embedder.embed(texts) * await fp32.embed(texts), axis=1)
        finally:
            await fp32.aclose()
        assert cosine.min() > 0.99

    async def test_smoothing_brings_int8_closer_to_fp32(
        self, minilm_files: ModelFiles, embedder: OnnxEmbedder, tmp_path: Path
    ) -> None:
        """The shipped int8 graph (smoothed with ranges from the calibration text) errs
        less against fp32 than the same graph quantised without smoothing."""
        source = wheel_model_dir()
        ranges = measure_activation_ranges(source, tmp_path, ["Where is my order?"])
        # The premise: some channels run far larger than the typical one.
        assert max(float(r.max() / np.median(r)) for r in ranges.values()) > 5
        unsmoothed = tmp_path / "model.int8.onnx"
        build_onnx(source, unsmoothed, int8=True)
        shutil.copyfile(minilm_files.tokenizer_path, tmp_path / "tokenizer.json")
        plain = OnnxEmbedder(ModelFiles(unsmoothed, tmp_path / "tokenizer.json", precision="int8"))
        fp32 = OnnxEmbedder(prepare_minilm(minilm_files.onnx_path.parent.parent, precision="fp32"))
        texts = [
            "My parcel was marked as delivered, but it never arrived. Who do I call?",
            "Signals let decoupled applications get notified when actions occur elsewhere.",
            "ALLOWED_HOSTS is required when DEBUG is False; otherwise requests get a 400.",
            "Le remboursement est effectué sous 14 jours sur le moyen de paiement initial.",
        ] * 2
        try:
            reference = await fp32.embed(texts)
            smoothed_error = 1 - np.sum(await embedder.embed(texts) * reference, axis=1)
            plain_error = 1 - np.sum(await plain.embed(texts) * reference, axis=1)
        finally:
            await fp32.aclose()
            await plain.aclose()
        assert smoothed_error.mean() < 0.8 * plain_error.mean()


class TestHashingEmbedder:
    async def test_deterministic_and_normalised(self) -> None:
        model = HashingEmbedder(dimension=64)
        first = await model.embed(["refund my order", "refund my order", "shipping times"])
        assert np.allclose(first[0], first[1])
        assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
        assert float(first[0] @ first[2]) < 0.5


@dataclass
class FakeProvider:
    """What the local server answers, and what it was asked."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # Status codes to answer before succeeding; consumed one per request.
    failures: list[int] = field(default_factory=list)
    dimension: int = 4
    malformed: bool = False


@pytest.fixture
def provider() -> Iterator[tuple[str, FakeProvider]]:
    state = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                self._reply(404, {"error": "not found"})
            elif state.failures:
                self._reply(state.failures.pop(0), {"error": "busy"}, retry_after="0")
            elif state.malformed:
                self._reply(200, {"object": "list"})
            else:
                # Out of order on purpose: clients must sort by "index".
                data = [
                    {"index": i, "embedding": [float(len(text)), 1.0, float(i), 0.0]}
                    for i, text in enumerate(body["input"])
                ]
                self._reply(200, {"data": list(reversed(data)), "model": body["model"]})

        def _reply(self, status: int, payload: Any, retry_after: str | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()


class TestOpenAIEmbedder:
    async def test_batches_keep_order_and_normalise(
        self, provider: tuple[str, FakeProvider]
    ) -> None:
        url, state = provider
        model = OpenAIEmbedder(base_url=url, model="text-embed", api_key="sk-test", batch_size=2)
        try:
            texts = ["a", "bb", "ccc", "dddd", "eeeee"]
            vectors = await model.embed(texts)
        finally:
            await model.aclose()
        assert [r["input"] for r in state.requests] == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
        assert all(r["model"] == "text-embed" for r in state.requests)
        assert state.headers[0]["Authorization"] == "Bearer sk-test"
        assert vectors.shape == (5, 4) and model.dimension == 4
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        lengths = vectors[:, 0] / vectors[:, 1]
        assert np.allclose(lengths, [1, 2, 3, 4, 5])

    async def test_retries_rate_limits_and_server_errors(
        self, provider: tuple[str, FakeProvider]
    ) -> None:
        url, state = provider
        state.failures = [429, 503]
        model = OpenAIEmbedder(base_url=url, model="m", backoff_seconds=0.01)
        try:
            vectors = await model.embed(["hello"])
        finally:
            await model.aclose()
        assert vectors.shape == (1, 4)
        assert len(state.requests) == 3

    async def test_gives_up_with_upstream_error(self, provider: tuple[str, FakeProvider]) -> None:
        url, state = provider
        state.failures = [500] * 10
        model = OpenAIEmbedder(base_url=url, model="m", max_retries=2, backoff_seconds=0.01)
        try:
            with pytest.raises(Upstream):
                await model.embed(["hello"])
        finally:
            await model.aclose()
        assert len(state.requests) == 3

    async def test_client_errors_are_not_retried(self, provider: tuple[str, FakeProvider]) -> None:
        url, state = provider
        state.failures = [401]
        model = OpenAIEmbedder(base_url=url, model="m", backoff_seconds=0.01)
        try:
            with pytest.raises(Upstream, match="401"):
                await model.embed(["hello"])
        finally:
            await model.aclose()
        assert len(state.requests) == 1

    async def test_malformed_response_is_upstream_error(
        self, provider: tuple[str, FakeProvider]
    ) -> None:
        url, state = provider
        state.malformed = True
        model = OpenAIEmbedder(base_url=url, model="m")
        try:
            with pytest.raises(Upstream, match="malformed"):
                await model.embed(["hello"])
        finally:
            await model.aclose()

    async def test_unreachable_provider_is_upstream_error(self) -> None:
        model = OpenAIEmbedder(
            base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff_seconds=0.01
        )
        try:
            with pytest.raises(Upstream, match="unreachable"):
                await model.embed(["hello"])
        finally:
            await model.aclose()
