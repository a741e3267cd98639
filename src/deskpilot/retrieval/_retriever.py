"""The async face of retrieval: embed the question, then search the org's index off the
event loop. This is what the agent and `POST /knowledge/search` call."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from uuid import UUID

import numpy.typing as npt

from deskpilot.indexing import Embedder
from deskpilot.retrieval._index import KnowledgeIndex, OrgKey, SearchHit


class Retriever:
    def __init__(self, index: KnowledgeIndex, embedder: Embedder | None) -> None:
        if embedder is not None and embedder.dimension != index.dimension:
            raise ValueError("embedder and index disagree on the vector dimension")
        self._index = index
        self._embedder = embedder

    @property
    def index(self) -> KnowledgeIndex:
        return self._index

    async def search(
        self,
        org_id: OrgKey,
        query: str,
        *,
        limit: int = 10,
        datasource_ids: Collection[str | UUID] | None = None,
        sources: Collection[str] | None = None,
        max_per_page: int | None = None,
        vector: npt.ArrayLike | None = None,
    ) -> list[SearchHit]:
        """Hits best first, each with a calibrated score in [0, 1]; lexical-only when the
        retriever has no embedder. A caller that already embedded `query` passes `vector`."""
        if vector is None and self._embedder is not None:
            vector = (await self._embedder.embed([query]))[0]
        # A 50,000-chunk scan takes milliseconds of NumPy, which releases the GIL; a thread
        # keeps that off the loop.
        return await asyncio.to_thread(
            self._index.search,
            org_id,
            query,
            vector,
            limit=limit,
            datasource_ids=datasource_ids,
            sources=sources,
            max_per_page=max_per_page,
        )
