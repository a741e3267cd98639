"""`deskpilot ask` and `deskpilot eval`: the org's AI answering as it would in a conversation,
without creating one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deskpilot import db as database
from deskpilot.agent import understand
from deskpilot.agent.evaluation import ItemResult, Report, load_items
from deskpilot.agent.resources import agent_for
from deskpilot.agent.turn import Agent, TurnInput, TurnOutcome
from deskpilot.config import Settings
from deskpilot.crawl.resources import close_resources
from deskpilot.errors import NotFound
from deskpilot.jobs import TaskContext, create_queue
from deskpilot.llm import contains_profile_leak
from deskpilot.org.service import find_live_org
from deskpilot.orgsettings.schemas import Channel


@asynccontextmanager
async def _agent(settings: Settings, org_id: uuid.UUID) -> AsyncIterator[tuple[Agent, Any]]:
    engine = database.create_engine(settings)
    sessionmaker = database.create_sessionmaker(engine)
    context = TaskContext(
        settings=settings, sessionmaker=sessionmaker, queue=create_queue(settings, {})
    )
    try:
        async with sessionmaker() as session:
            if await find_live_org(session, org_id=org_id) is None:
                raise NotFound("Org not found")
        yield agent_for(context), sessionmaker
    finally:
        await close_resources(context)
        await engine.dispose()


def outcome_json(outcome: TurnOutcome) -> dict[str, Any]:
    return {
        "decision": outcome.decision,
        "reply": outcome.reply,
        "draft": outcome.draft,
        "sources": [{"url": c.url, "title": c.title} for c in outcome.citations],
        "handoff": None
        if outcome.handoff is None
        else {
            "reasons": outcome.handoff.reasons,
            "explanation": outcome.handoff.explanation,
            "summary": outcome.handoff.summary,
        },
        "language": outcome.language,
        "sentiment": outcome.sentiment,
        "tags": outcome.tags,
        "debug": outcome.debug,
    }


async def ask(
    settings: Settings, *, org_id: uuid.UUID, question: str, channel: Channel
) -> dict[str, Any]:
    async with _agent(settings, org_id) as (agent, sessionmaker), sessionmaker() as session:
        outcome = await agent.run(
            session, TurnInput(org_id=org_id, message=question, channel=channel)
        )
    return outcome_json(outcome)


async def _warm_up(agent: Agent, sessionmaker: Any, org_id: uuid.UUID) -> None:
    """Load the models and the org's index before the clock starts: the figures are for a
    running server, not for its first request."""
    await asyncio.to_thread(understand.warm_up)
    async with sessionmaker() as session:
        await agent.run(session, TurnInput(org_id=org_id, message="How do I get started?"))


async def evaluate(
    settings: Settings,
    *,
    org_id: uuid.UUID,
    path: Path,
    channel: Channel,
    limit: int | None = None,
    show_progress: bool = True,
) -> Report:
    items = load_items(path)[:limit] if limit else load_items(path)
    report = Report()
    async with _agent(settings, org_id) as (agent, sessionmaker):
        await _warm_up(agent, sessionmaker, org_id)
        async with sessionmaker() as session:
            _, profile = await agent.load_org(session, org_id)
        columns = (
            TextColumn("[bold]evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        # On stderr: stdout carries the report.
        console = Console(stderr=True)
        with Progress(*columns, console=console, disable=not show_progress) as progress:
            bar = progress.add_task("eval", total=len(items), status="")
            for item in items:
                async with sessionmaker() as session:
                    started = time.perf_counter()
                    outcome = await agent.run(
                        session, TurnInput(org_id=org_id, message=item.question, channel=channel)
                    )
                    latency = (time.perf_counter() - started) * 1000
                    # Retrieval depth for hit@k / MRR, outside the timed turn.
                    hits = await agent.knowledge.search_hits(
                        session, org_id=org_id, query=item.question, limit=30
                    )
                ranked = list(dict.fromkeys(hit.chunk.url for hit in hits))
                reply = outcome.reply or ""
                report.results.append(
                    ItemResult(
                        item=item,
                        decision=outcome.decision,
                        reply=reply,
                        cited_urls=[c.url for c in outcome.citations],
                        ranked_urls=ranked,
                        latency_ms=latency,
                        leaked=bool(profile) and contains_profile_leak(reply, profile, []),
                        confidence=outcome.debug.get("confidence"),
                        timings_ms=outcome.debug.get("timings_ms", {}),
                    )
                )
                summary = report.summary()
                progress.update(
                    bar,
                    advance=1,
                    status=f"answered {summary['answerable']['answer_rate']} · "
                    f"declined {summary['unanswerable']['handoff_or_decline_rate']}",
                )
    return report
