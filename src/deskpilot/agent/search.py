"""`POST /training/search`: what the AI would find for a question, training and pages
together on one 0..1 score, drafts included on request."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.agent.turn import Agent
from deskpilot.models import TrainingItem
from deskpilot.retrieval import SearchHit
from deskpilot.tenancy import org_scoped
from deskpilot.training.schemas import TrainingSearch, TrainingSearchResult

SNIPPET_CHARS = 240


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def _training_result(hit: SearchHit) -> TrainingSearchResult:
    return TrainingSearchResult(
        source="training",
        id=hit.page_id,
        title=hit.chunk.title,
        snippet=_snippet(hit.chunk.text),
        url=None,
        score=round(float(hit.score), 4),
    )


async def _drafts(db: AsyncSession, org_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """Entries with unpublished text: never published, or with pending edits."""
    rows = await db.scalars(
        org_scoped(TrainingItem, org_id).where(
            sa.or_(TrainingItem.current_version.is_(None), TrainingItem.draft_content.is_not(None))
        )
    )
    return [
        (str(item.id), item.draft_title or item.title, item.draft_content or item.content)
        for item in rows
    ]


async def search_training_and_pages(
    db: AsyncSession, agent: Agent, *, org_id: uuid.UUID, body: TrainingSearch
) -> list[TrainingSearchResult]:
    vector = await agent.embed_query(body.query)
    results: dict[tuple[str, str], TrainingSearchResult] = {}

    def keep(result: TrainingSearchResult) -> None:
        key = (result.source, result.id)
        if key not in results or results[key].score < result.score:
            results[key] = result

    if "training" in body.sources:
        live = await agent.training.sync(db, org_id=org_id)
        hits = await agent.training.search(
            org_id, body.query, vector, allowed=[e.id for e in live], limit=body.limit
        )
        for hit in hits:
            keep(_training_result(hit))
        if body.include_drafts:
            drafts = await _drafts(db, org_id)
            for hit in await agent.training.search_texts(
                body.query, vector, drafts, limit=body.limit
            ):
                keep(_training_result(hit))
    if "pages" in body.sources:
        for hit in await agent.knowledge.search_hits(
            db, org_id=org_id, query=body.query, limit=body.limit, vector=vector
        ):
            keep(
                TrainingSearchResult(
                    source="page",
                    id=hit.chunk.chunk_id,
                    title=hit.chunk.title,
                    snippet=_snippet(hit.chunk.text),
                    url=hit.chunk.url,
                    score=round(float(hit.score), 4),
                )
            )
    return sorted(results.values(), key=lambda r: -r.score)[: body.limit]
