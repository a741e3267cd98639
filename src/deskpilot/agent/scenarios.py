"""SCENARIO_SPECIFIC training as searchable knowledge: each published entry is embedded once
per version and searched with the same hybrid scoring as pages, in an index of its own.

Every turn first mirrors the org's live entries (one small query), so a publish, an edit or a
delete made through any process is in force at the very next turn.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Collection

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.indexing import Chunk, Embedder, context_prefix
from deskpilot.retrieval import KnowledgeIndex, SearchHit
from deskpilot.training.service import LiveTraining, list_live

SCENARIO = "SCENARIO_SPECIFIC"


def scenario_chunk(entry: LiveTraining) -> Chunk:
    """One entry as one retrievable passage; its title (the trigger question) is its context."""
    return Chunk(
        chunk_id=str(entry.id),
        url="",
        title=entry.title,
        heading_path=(),
        text=entry.content,
        ordinal=0,
        content_hash=f"{entry.id}:{entry.version}",
        quality=1.0,
        embedding_text=context_prefix(entry.title, ()) + entry.content,
    )


class ScenarioLibrary:
    def __init__(self, embedder: Embedder | None, dimension: int) -> None:
        self._embedder = embedder
        self._index = KnowledgeIndex(dimension=dimension)
        # org → {entry id: version indexed}
        self._indexed: defaultdict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        self._locks: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def sync(self, session: AsyncSession, *, org_id: uuid.UUID) -> list[LiveTraining]:
        """Mirror the org's published scenarios; returns every live entry (both types)."""
        live = await list_live(session, org_id=org_id)
        scenarios = {str(entry.id): entry for entry in live if entry.type == SCENARIO}
        async with self._locks[org_id]:
            indexed = self._indexed[org_id]
            for gone in set(indexed) - set(scenarios):
                self._index.remove_page(org_id, gone)
                del indexed[gone]
            stale = [e for key, e in scenarios.items() if indexed.get(key) != e.version]
            if stale:
                chunks = [scenario_chunk(entry) for entry in stale]
                vectors = await self._vectors([c.embedding_text for c in chunks])
                for entry, chunk, vector in zip(stale, chunks, vectors, strict=True):
                    self._index.add_page(org_id, str(entry.id), [chunk], vector, source="training")
                    indexed[str(entry.id)] = entry.version
        return live

    async def _vectors(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if self._embedder is None:
            return np.zeros((len(texts), self._index.dimension), dtype=np.float32)
        return np.asarray(await self._embedder.embed(texts), dtype=np.float32)

    async def search(
        self,
        org_id: uuid.UUID,
        query: str,
        vector: npt.ArrayLike | None,
        *,
        allowed: Collection[uuid.UUID],
        limit: int = 3,
    ) -> list[SearchHit]:
        """The best scenarios among `allowed` (those whose restrictions admit this turn)."""
        if not allowed:
            return []
        wanted = {str(item) for item in allowed}
        hits = await asyncio.to_thread(
            self._index.search, org_id, query, vector, limit=max(limit, len(wanted))
        )
        return [hit for hit in hits if hit.page_id in wanted][:limit]
