"""The org's searchable knowledge: stored chunks mirrored into this process's in-memory
hybrid index, kept current through the `knowledge_changes` log, and searched.

Any process may change chunks (a crawl worker, an API call excluding a page); each search
first applies the changes logged since this process last looked, so a deleted or excluded
page is gone from the very next search, in every process.

The log is pruned after `LOG_RETENTION` (the latest row of each org stays, so positions
only grow); a process that has not looked at an org for half that time reloads it whole
instead of trusting a log that may have lost rows it never saw.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.crawl.schemas import KnowledgeHit
from deskpilot.indexing import Chunk as IndexChunk
from deskpilot.indexing import context_prefix
from deskpilot.models import Chunk, KnowledgeChange, Page
from deskpilot.retrieval import KnowledgeIndex, Retriever, SearchHit

LOG_RETENTION = timedelta(hours=24)
# An org this process has not synced for this long is reloaded whole.
_STALE_AFTER_SECONDS = LOG_RETENTION.total_seconds() / 2


async def prune_log(session: AsyncSession, *, now: datetime) -> int:
    """Delete log rows older than `LOG_RETENTION`, except each org's latest."""
    latest = sa.select(sa.func.max(KnowledgeChange.seq)).group_by(KnowledgeChange.org_id)
    result = await session.execute(
        sa.delete(KnowledgeChange)
        .where(KnowledgeChange.created_at < now - LOG_RETENTION)
        .where(KnowledgeChange.seq.not_in(latest))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


class KnowledgeBase:
    def __init__(self, index: KnowledgeIndex, retriever: Retriever) -> None:
        self._index = index
        self._retriever = retriever
        self._seq: dict[uuid.UUID, int] = {}
        self._synced_at: dict[uuid.UUID, float] = {}  # monotonic
        self._locks: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def dimension(self) -> int:
        return self._index.dimension

    async def _page_rows(
        self, session: AsyncSession, *, org_id: uuid.UUID, page_ids: Collection[uuid.UUID] | None
    ) -> dict[uuid.UUID, list[tuple[Chunk, Page]]]:
        stmt = (
            sa.select(Chunk, Page)
            .join(Page, Page.id == Chunk.page_id)
            .where(Chunk.org_id == org_id, Page.status != "excluded")
            .order_by(Chunk.page_id, Chunk.ordinal)
        )
        if page_ids is not None:
            stmt = stmt.where(Chunk.page_id.in_(list(page_ids)))
        grouped: dict[uuid.UUID, list[tuple[Chunk, Page]]] = defaultdict(list)
        for chunk, page in (await session.execute(stmt)).tuples():
            grouped[chunk.page_id].append((chunk, page))
        return grouped

    def _load_page(
        self, org_id: uuid.UUID, page_id: uuid.UUID, rows: Sequence[tuple[Chunk, Page]]
    ) -> None:
        if not rows:
            self._index.remove_page(org_id, page_id)
            return
        dimension = self._index.dimension
        vectors = np.zeros((len(rows), dimension), dtype=np.float32)
        chunks = []
        for i, (chunk, page) in enumerate(rows):
            # A vector of another dimension (left by a replaced model until it is embedded
            # again) cannot serve: the chunk is searched lexically meanwhile.
            if chunk.embedding is not None and len(chunk.embedding) == 4 * dimension:
                vectors[i] = np.frombuffer(chunk.embedding, dtype=np.float32)
            heading_path = tuple(chunk.heading_path or ())
            title = page.title or page.url
            chunks.append(
                IndexChunk(
                    chunk_id=str(chunk.id),
                    url=page.url,
                    title=title,
                    heading_path=heading_path,
                    text=chunk.text,
                    ordinal=chunk.ordinal,
                    content_hash=chunk.content_hash,
                    quality=chunk.quality,
                    embedding_text=context_prefix(title, heading_path) + chunk.text,
                )
            )
        self._index.add_page(
            org_id, page_id, chunks, vectors, datasource_id=rows[0][0].datasource_id
        )

    async def sync(self, session: AsyncSession, *, org_id: uuid.UUID) -> None:
        """Bring this process's index of the org up to date with the database."""
        async with self._locks[org_id]:
            last = self._seq.get(org_id)
            now = time.monotonic()
            if now - self._synced_at.get(org_id, now) > _STALE_AFTER_SECONDS:
                last = None  # the log may have been pruned past what this process saw
            self._synced_at[org_id] = now
            latest = await session.scalar(
                sa.select(sa.func.max(KnowledgeChange.seq)).where(KnowledgeChange.org_id == org_id)
            )
            latest = latest or 0
            if last is None:
                # Read the log position first: a change made while we load is replayed next time.
                self._index.drop_org(org_id)
                for page_id, rows in (
                    await self._page_rows(session, org_id=org_id, page_ids=None)
                ).items():
                    self._load_page(org_id, page_id, rows)
                self._seq[org_id] = latest
                return
            if latest <= last:
                return
            changed = set(
                await session.scalars(
                    sa.select(KnowledgeChange.page_id)
                    .where(KnowledgeChange.org_id == org_id, KnowledgeChange.seq > last)
                    .distinct()
                )
            )
            rows_by_page = await self._page_rows(session, org_id=org_id, page_ids=changed)
            for page_id in changed:
                self._load_page(org_id, page_id, rows_by_page.get(page_id, []))
            self._seq[org_id] = latest

    async def search_hits(
        self,
        session: AsyncSession,
        *,
        org_id: uuid.UUID,
        query: str,
        limit: int,
        datasource_ids: Collection[uuid.UUID] | None = None,
        vector: npt.ArrayLike | None = None,
    ) -> list[SearchHit]:
        await self.sync(session, org_id=org_id)
        return await self._retriever.search(
            org_id,
            query,
            limit=limit,
            datasource_ids=datasource_ids,
            max_per_page=None,
            vector=vector,
        )

    async def search(
        self,
        session: AsyncSession,
        *,
        org_id: uuid.UUID,
        query: str,
        limit: int,
        datasource_ids: Collection[uuid.UUID] | None = None,
    ) -> list[KnowledgeHit]:
        hits = await self.search_hits(
            session, org_id=org_id, query=query, limit=limit, datasource_ids=datasource_ids
        )
        return [
            KnowledgeHit(
                chunk_id=hit.chunk.chunk_id,
                url=hit.chunk.url,
                title=hit.chunk.title,
                heading=hit.chunk.heading or None,
                text=hit.chunk.text,
                score=round(float(hit.score), 4),
                source="page",
                datasource_id=uuid.UUID(hit.datasource_id) if hit.datasource_id else None,
                page_id=uuid.UUID(hit.page_id),
            )
            for hit in hits
        ]
