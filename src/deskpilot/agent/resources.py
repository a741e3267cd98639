"""The agent and what it needs, built once per process on first use (the app, a worker, the
CLI): the knowledge base, the scenario library, the embedder and the responder."""

from __future__ import annotations

from deskpilot.agent.training import TrainingLibrary
from deskpilot.agent.turn import Agent, AgentConfig
from deskpilot.config import Settings
from deskpilot.crawl.resources import embedder_for
from deskpilot.jobs import TaskContext
from deskpilot.knowledge.service import KnowledgeBase
from deskpilot.llm import OfflineResponder, OpenAIConfig, OpenAIResponder, Responder
from deskpilot.retrieval import KnowledgeIndex, Retriever


def build_responder(settings: Settings) -> Responder:
    if settings.LLM_BASE_URL:
        return OpenAIResponder(
            OpenAIConfig(
                base_url=settings.LLM_BASE_URL,
                model=settings.LLM_MODEL,
                api_key=settings.LLM_API_KEY or None,
                temperature=settings.LLM_TEMPERATURE,
                max_tokens=settings.LLM_MAX_TOKENS,
                total_timeout=settings.LLM_TIMEOUT_SECONDS,
                read_timeout=min(60.0, settings.LLM_TIMEOUT_SECONDS),
                max_retries=settings.LLM_MAX_RETRIES,
            )
        )
    # Longer extracts than the library's defaults: a support reply should carry the
    # setting, the command and the example, not only the sentence that names the topic.
    # Sentence embeddings (`embed=`) are left off: on the Django set they change no fact
    # and cost ~10x the turn's latency (tens of sentences embedded per reply).
    return OfflineResponder(max_passages=8, max_sentences=7, max_prose_chars=1300)


def knowledge_for(ctx: TaskContext) -> KnowledgeBase:
    knowledge = ctx.resources.get("knowledge")
    if knowledge is None:
        embedder = embedder_for(ctx)
        index = KnowledgeIndex(dimension=embedder.dimension)
        knowledge = ctx.resources["knowledge"] = KnowledgeBase(index, Retriever(index, embedder))
    assert isinstance(knowledge, KnowledgeBase)
    return knowledge


def agent_for(ctx: TaskContext) -> Agent:
    agent = ctx.resources.get("agent")
    if agent is None:
        embedder = embedder_for(ctx)
        agent = ctx.resources["agent"] = Agent(
            knowledge=knowledge_for(ctx),
            training=TrainingLibrary(embedder, embedder.dimension),
            embedder=embedder,
            responder=build_responder(ctx.settings),
            config=AgentConfig(min_confidence=ctx.settings.AGENT_MIN_CONFIDENCE),
        )
    assert isinstance(agent, Agent)
    return agent
