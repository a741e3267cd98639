"""Training as searchable knowledge: each published entry is embedded once per version and
searched with the same hybrid scoring as pages, in an index of its own. The agent searches
the SCENARIO_SPECIFIC entries a turn admits; `POST /training/search` searches them all, and
drafts on request.

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
from deskpilot.retrieval import KnowledgeIndex, OrgIndex, SearchHit
from deskpilot.training.service import LiveTraining, list_live

SCENARIO = "SCENARIO_SPECIFIC"


def training_chunk(entry_id: str, title: str, content: str, version: str) -> Chunk:
    """One entry as one retrievable passage; its title (the trigger question) is its context."""
    return Chunk(
        chunk_id=entry_id,
        url="",
        title=title,
        heading_path=(),
        text=content,
        ordinal=0,
        content_hash=f"{entry_id}:{version}",
        quality=1.0,
        embedding_text=context_prefix(title, ()) + content,
    )


class TrainingLibrary:
    def __init__(self, embedder: Embedder | None, dimension: int) -> None:
        self._embedder = embedder
        self._index = KnowledgeIndex(dimension=dimension)
        # org → {entry id: version indexed}
        self._indexed: defaultdict[uuid.UUID, dict[str, int]] = defaultdict(dict)
        self._locks: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def sync(self, session: AsyncSession, *, org_id: uuid.UUID) -> list[LiveTraining]:
        """Mirror the org's published entries; returns them all."""
        live = await list_live(session, org_id=org_id)
        entries = {str(entry.id): entry for entry in live}
        async with self._locks[org_id]:
            indexed = self._indexed[org_id]
            for gone in set(indexed) - set(entries):
                self._index.remove_page(org_id, gone)
                del indexed[gone]
            stale = [e for key, e in entries.items() if indexed.get(key) != e.version]
            if stale:
                chunks = [
                    training_chunk(str(e.id), e.title, e.content, str(e.version)) for e in stale
                ]
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
        """The best entries among `allowed` (e.g. the scenarios this turn admits)."""
        if not allowed:
            return []
        wanted = {str(item) for item in allowed}
        hits = await asyncio.to_thread(
            self._index.search, org_id, query, vector, limit=max(limit, len(wanted))
        )
        return [hit for hit in hits if hit.page_id in wanted][:limit]

    async def search_texts(
        self,
        query: str,
        vector: npt.ArrayLike | None,
        entries: list[tuple[str, str, str]],
        *,
        limit: int,
    ) -> list[SearchHit]:
        """Score unindexed `(id, title, content)` texts (drafts) the same way, ad hoc."""
        if not entries:
            return []
        chunks = [training_chunk(key, title, content, "draft") for key, title, content in entries]
        vectors = await self._vectors([c.embedding_text for c in chunks])
        index = OrgIndex(dimension=self._index.dimension)
        for chunk, row in zip(chunks, vectors, strict=True):
            index.add_page(chunk.chunk_id, [chunk], row, source="training")
        return await asyncio.to_thread(index.search, query, vector, limit=limit)
