"""The `Embedder` port and its implementations: local MiniLM on ONNX Runtime, any
OpenAI-compatible `/embeddings` endpoint, and a hashing embedder that needs no model.

Every implementation returns float32 rows of unit length, one per input text, in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
import numpy as np
import numpy.typing as npt

from deskpilot.errors import Upstream
from deskpilot.indexing._chunking import approximate_token_count
from deskpilot.indexing._model_files import ModelFiles

if TYPE_CHECKING:
    from tokenizers import Encoding

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's input window; the chunker sizes chunks to fit it."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 vectors, shape (len(texts), dimension)."""
        ...

    async def aclose(self) -> None: ...


def normalize_rows(matrix: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (or any graph with the same inputs and a pooled output) on the CPU.

    Inference runs on worker threads: ONNX Runtime and the tokenizer release the GIL, so the
    event loop keeps serving while a batch runs. Bulk work (indexing) queues on one thread,
    one batch per task, so it never holds the cores for long; short calls (a visitor's
    question) take a second lane and do not wait behind a crawl's backlog. Texts are sorted
    by length before batching so a batch pads to its own longest text.
    """

    def __init__(
        self,
        files: ModelFiles,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        max_tokens: int = 256,
        interactive_max_texts: int = 8,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(files.tokenizer_path))
        tokenizer.enable_truncation(max_tokens)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        # The counter must not truncate, or overlong chunks would look as if they fit.
        counter = Tokenizer.from_file(str(files.tokenizer_path))
        counter.no_truncation()
        counter.no_padding()
        self._counter = counter
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(files.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        # A rebuilt graph embeds differently, so its version is part of the id: stored
        # vectors under another id are embedded again rather than mixed with new ones.
        self._model_id = f"{files.model_id}@onnx-{files.precision}-v{files.export}"
        self._dimension = int(self._session.get_outputs()[0].shape[-1])
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._interactive_max = interactive_max_texts
        self._bulk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-bulk")
        self._interactive = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-query")

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text without [CLS]/[SEP]."""
        if not texts:
            return []
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        if len(texts) <= self._interactive_max:
            return await loop.run_in_executor(self._interactive, self.embed_sync, texts)
        encodings = await loop.run_in_executor(self._bulk, self._encode, list(texts))
        order = _by_length(encodings)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        # One task per batch: other callers' batches interleave instead of waiting for all.
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            batch = [encodings[i] for i in rows]
            out[rows] = await loop.run_in_executor(self._bulk, self._run, batch)
        return out

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking variant for scripts and benchmarks that own no event loop."""
        encodings = self._encode(list(texts))
        order = _by_length(encodings)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def _encode(self, texts: list[str]) -> list[Encoding]:
        return self._tokenizer.encode_batch(texts)

    def _run(self, encodings: list[Encoding]) -> Vectors:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (result,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return normalize_rows(result)

    async def aclose(self) -> None:
        self._bulk.shutdown(wait=False, cancel_futures=True)
        self._interactive.shutdown(wait=False, cancel_futures=True)


def _by_length(encodings: list[Encoding]) -> npt.NDArray[np.intp]:
    return np.argsort([len(encoding.ids) for encoding in encodings], kind="stable")


_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, Azure-style proxies, vLLM, Ollama,
    llama.cpp server, TEI). Batches inputs, retries rate limits and server errors with
    backoff (honouring Retry-After), and raises `Upstream` when the provider keeps failing.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 64,
        max_tokens: int = 8191,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout_seconds,
            transport=transport,
        )
        self._model = model
        self._dimension = dimension
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._max_retries = max_retries
        self._backoff = backoff_seconds

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise RuntimeError("dimension unknown until the first embed call (or pass it)")
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return approximate_token_count(texts)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        parts = [
            await self._embed_batch(list(texts[start : start + self._batch_size]))
            for start in range(0, len(texts), self._batch_size)
        ]
        vectors = normalize_rows(np.concatenate(parts))
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise Upstream(
                f"embeddings provider returned {vectors.shape[1]} dimensions, "
                f"expected {self._dimension}"
            )
        return vectors

    async def _embed_batch(self, batch: list[str]) -> npt.NDArray[np.float32]:
        payload = {"model": self._model, "input": batch, "encoding_format": "float"}
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            try:
                response = await self._client.post("embeddings", json=payload)
            except httpx.TransportError as exc:
                if last:
                    raise Upstream(f"embeddings provider unreachable: {exc!r}") from exc
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if response.status_code in _RETRY_STATUS and not last:
                await asyncio.sleep(self._delay(attempt, response.headers.get("retry-after")))
                continue
            if response.status_code != 200:
                raise Upstream(
                    f"embeddings provider answered {response.status_code}: {response.text[:200]}"
                )
            return _parse_embeddings(response, len(batch))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        # Full jitter keeps many workers from retrying in step.
        return random.uniform(0, self._backoff * 2**attempt)  # noqa: S311

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_embeddings(response: httpx.Response, expected: int) -> npt.NDArray[np.float32]:
    try:
        data = response.json()["data"]
        rows = sorted(data, key=lambda item: int(item["index"]))
        matrix = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise Upstream("embeddings provider sent a malformed response") from exc
    if matrix.ndim != 2 or matrix.shape[0] != expected:
        raise Upstream(f"embeddings provider returned {matrix.shape[0]} vectors for {expected}")
    return matrix


_HASH_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    """Feature-hashed bag of words and word pairs: deterministic, instant, no model files.

    For tests and for installs that turn dense retrieval off; it captures word overlap only.
    """

    def __init__(self, *, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def model_id(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return approximate_token_count(texts)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_sync(texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _HASH_TOKEN.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                sign = 1.0 if value & 1 else -1.0
                out[row, (value >> 1) % self._dimension] += sign
        return normalize_rows(out)

    async def aclose(self) -> None:
        return None
