"""The agent's turn (DESIGN.md "The agent"): gate → understand → retrieve → decide → respond →
after, for one contact message.

`Agent.run` reads the org's settings, knowledge and training and returns a `TurnOutcome`;
it writes nothing. The conversation task stores the outcome (messages, handoff, tags); the
test console and `deskpilot ask/eval` show it without creating a session.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.agent.summary import summarize
from deskpilot.agent.training import SCENARIO, TrainingLibrary
from deskpilot.agent.understand import Understanding, detect_small_talk, understand, wants_human
from deskpilot.indexing import Embedder
from deskpilot.knowledge.service import KnowledgeBase
from deskpilot.llm import (
    Citation,
    ConversationTurn,
    LeakGuard,
    Passage,
    ProviderError,
    Reply,
    ReplyRequest,
    Responder,
    phrase,
    phrase_language,
)
from deskpilot.models import HandoffSettings, Org, Partner
from deskpilot.orgsettings import hours
from deskpilot.orgsettings.schemas import Channel, HandoffToggles
from deskpilot.orgsettings.service import (
    auto_tagging_candidates,
    channel_mode,
    effective_handoff,
    get_autopilot,
    office_hours,
)
from deskpilot.retrieval import Analyzer, SearchHit
from deskpilot.training.service import LiveTraining

log = structlog.get_logger(__name__)

Decision = Literal[
    "answer",  # a grounded reply
    "clarify",  # the AI could not answer and asks for more
    "small_talk",  # greeting, thanks, goodbye
    "decline",  # a guardrail or a request the AI may not fulfil
    "handoff",  # to the team, with reasons
    "silent",  # no AI reply: a human owns the session, autopilot is off
]
Sentiment = Literal["angry", "happy", "neutral"]
# Analytics reason → the webhook's reason (API.md 3.9).
WEBHOOK_REASONS = {"prohibited_topic": "ai_is_forbidden_from_handling_this_topic"}
DEFAULT_WEBHOOK_REASON = "ai_decided_to_handoff_the_conversation"


@dataclass(frozen=True, slots=True)
class TurnInput:
    org_id: uuid.UUID
    message: str
    channel: Channel = "api"
    # Earlier visible messages, oldest first, the message itself excluded.
    history: Sequence[ConversationTurn] = ()
    # The contact's verified segments (training restrictions) and which fields we know.
    segments: Sequence[str] = ()
    known_fields: frozenset[str] = frozenset()
    # Session state.
    language: str | None = None
    human_owned: bool = False
    handed_off: bool = False
    unproductive_replies: int = 0
    now: datetime | None = None
    # Called with each piece of the reply as it is written, when the reply goes straight to
    # a live visitor (autopilot): the widget shows it growing. Never with a held-back leak.
    on_delta: Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    reasons: list[str]
    explanation: str
    webhook_reason: str
    summary: str


@dataclass(slots=True)
class TurnOutcome:
    decision: Decision
    # The AI's message to the contact; None when it stays silent. In assist mode this is a
    # draft for a human (`draft` true) and is not sent.
    reply: str | None
    citations: list[Citation]
    language: str | None
    sentiment: Sentiment
    tags: list[str]
    handoff: Handoff | None = None
    draft: bool = False
    # Whether the reply moved the conversation on (None: not an attempt at an answer).
    productive: bool | None = None
    debug: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    # Retrieval: chunks searched, then the passages handed to the responder: up to
    # `per_focus_page` chunks of each of the `focus_pages` best pages (an answer usually
    # lives on one page, across several of its chunks), filled up with the next best hits.
    search_depth: int = 30
    focus_pages: int = 1
    per_focus_page: int = 5
    passages: int = 8
    min_passage_score: float = 0.2
    # A reply below this confidence is not sent as an answer.
    min_confidence: float = 0.35
    # Autopilot topics: cosine between message and topic, or share of the topic's terms.
    # Generous on purpose: a false match costs a handoff, a missed one an AI answer on a
    # subject the org reserved for its people.
    topic_cosine: float = 0.5
    topic_terms: float = 0.5
    # Auto-tagging: cosine between the conversation and "name: description".
    tag_cosine: float = 0.42
    max_tags: int = 3


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._last = self.started
        self.marks: dict[str, float] = {}

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.marks[stage] = round((now - self._last) * 1000, 2)
        self._last = now

    def total(self) -> dict[str, float]:
        return {**self.marks, "total": round((time.perf_counter() - self.started) * 1000, 2)}


class Agent:
    def __init__(
        self,
        *,
        knowledge: KnowledgeBase,
        training: TrainingLibrary,
        embedder: Embedder | None,
        responder: Responder,
        config: AgentConfig | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.training = training
        self.embedder = embedder
        self.responder = responder
        self.config = config or AgentConfig()
        self._analyzer = Analyzer()
        # (text) → vector for tags and topics: short texts that rarely change.
        self._label_vectors: dict[str, npt.NDArray[np.float32]] = {}

    async def run(self, db: AsyncSession, turn: TurnInput) -> TurnOutcome:
        clock = _Clock()
        now = turn.now or datetime.now(tz=ZoneInfo("UTC"))
        org, profile = await self.load_org(db, turn.org_id)
        debug: dict[str, Any] = {"channel": turn.channel, "responder": self.responder.name}
        outcome = await self._decide(db, turn, org, profile, now, clock, debug)
        guard_text = outcome.reply
        if guard_text and outcome.decision != "silent":
            behavioral = debug.get("_behavioral", [])
            allowed = debug.get("_allowed", [])
            if LeakGuard(profile, behavioral, allowed=allowed).leaks(guard_text):
                log.warning("agent.leak_withheld", org_id=str(turn.org_id))
                outcome.reply = phrase("refusal", outcome.language)
                outcome.citations = []
                outcome.decision = "decline"
                debug["withheld"] = "leak"
        debug.pop("_behavioral", None)
        debug.pop("_allowed", None)
        debug["decision"] = outcome.decision
        if outcome.handoff is not None:
            debug["handoff"] = {
                "reasons": outcome.handoff.reasons,
                "explanation": outcome.handoff.explanation,
            }
        debug["timings_ms"] = clock.total()
        outcome.debug = debug
        return outcome

    # --- stages ----------------------------------------------------------------------------

    async def _decide(
        self,
        db: AsyncSession,
        turn: TurnInput,
        org: Org,
        profile: str | None,
        now: datetime,
        clock: _Clock,
        debug: dict[str, Any],
    ) -> TurnOutcome:
        history = list(turn.history)
        # Gate.
        if turn.human_owned or turn.handed_off:
            debug["gate"] = "human_owned" if turn.human_owned else "handed_off"
            return _silent(turn, debug)
        mode = await channel_mode(db, org_id=turn.org_id, channel=turn.channel)
        debug["autopilot_mode"] = mode
        if mode == "off":
            debug["gate"] = "autopilot_off"
            return _silent(turn, debug)
        toggles = await effective_handoff(db, org_id=turn.org_id, now=now)
        back_at = await self._team_back_at(db, turn.org_id, now)
        debug["office_hours"] = {"open": back_at is None, "back_at": _iso(back_at)}
        clock.mark("gate")

        # Understand.
        seen = understand(turn.message, history, default_language=turn.language or org.language)
        language = seen.language
        debug["understanding"] = {
            "language": language,
            "wants_human": seen.wants_human,
            "frustrated": seen.frustrated,
            "small_talk": seen.small_talk,
            "injection": seen.injection,
            "question": seen.standalone_question,
        }
        sentiment: Sentiment = "angry" if seen.frustrated else "neutral"
        if seen.small_talk == "thanks":
            sentiment = "happy"
        vector = await self.embed_query(seen.standalone_question)
        clock.mark("understand")

        topic = await self._prohibited_topic(db, turn.org_id, turn.message, vector)
        if topic is not None:
            debug["topic"] = topic
            return self._hand_off(
                turn,
                seen,
                sentiment,
                reason="prohibited_topic",
                explanation=f"The message is about an autopilot topic: {topic}",
                toggles=toggles,
                back_at=back_at,
                force=True,
                debug=debug,
            )
        if seen.injection:
            debug["guardrail"] = "instruction_override"
            return TurnOutcome(
                "decline", phrase("refusal", language), [], language, sentiment, [], debug=debug
            )
        if seen.harmful:
            debug["guardrail"] = "harmful_request"
            text = phrase("declined_topic", language)
            return TurnOutcome("decline", text, [], language, sentiment, [], debug=debug)
        if seen.wants_action:
            return self._hand_off(
                turn,
                seen,
                sentiment,
                reason="insufficient_tools",
                explanation="The contact asks for a change to its account, which needs a person.",
                toggles=toggles,
                back_at=back_at,
                debug=debug,
            )
        if seen.wants_human:
            if toggles.enabled and toggles.on_human_request:
                return self._hand_off(
                    turn,
                    seen,
                    sentiment,
                    reason="user_requested_human_assistance",
                    explanation="The contact asked to talk to a person.",
                    toggles=toggles,
                    back_at=back_at,
                    debug=debug,
                )
            text = phrase("no_human", language)
            if back_at is not None:
                text = f"{phrase('team_away', language, when=_when(back_at))} {text}"
            return TurnOutcome("decline", text, [], language, sentiment, [], debug=debug)
        if seen.frustrated and toggles.enabled and toggles.on_frustration:
            return self._hand_off(
                turn,
                seen,
                sentiment,
                reason="user_frustrated",
                explanation="The contact is frustrated.",
                toggles=toggles,
                back_at=back_at,
                debug=debug,
            )
        if seen.small_talk is not None:
            return TurnOutcome(
                "small_talk",
                phrase(seen.small_talk, language),
                [],
                language,
                sentiment,
                [],
                debug=debug,
            )

        # Retrieve.
        live = await self.training.sync(db, org_id=turn.org_id)
        segments = list(turn.segments)
        applies = [e for e in live if e.applies(channel=turn.channel, segments=segments, now=now)]
        behavioral = [e for e in applies if e.type == "BEHAVIORAL"]
        allowed = [e.id for e in applies if e.type == SCENARIO]
        question = seen.standalone_question
        hits = await self.knowledge.search_hits(
            db, org_id=turn.org_id, query=question, limit=self.config.search_depth, vector=vector
        )
        hits = self._focus(hits)
        passages = [
            _page_passage(hit) for hit in hits if hit.score >= self.config.min_passage_score
        ]
        scenario_hits = await self.training.search(
            turn.org_id, question, vector, allowed=allowed, limit=2
        )
        by_id = {str(e.id): e for e in applies}
        scenarios = [_scenario_passage(hit, by_id[hit.page_id]) for hit in scenario_hits]
        debug["knowledge"] = [_hit_debug(hit) for hit in hits]
        debug["scenarios"] = [
            {"id": p.id, "title": p.title, "score": round(p.score, 4)} for p in scenarios
        ]
        debug["instructions"] = [
            {"id": str(e.id), "title": e.title, "version": e.version} for e in behavioral
        ]
        debug["_behavioral"] = [e.content for e in behavioral]
        debug["_allowed"] = [p.text for p in passages]
        clock.mark("retrieve")

        # Respond.
        request = ReplyRequest(
            question=question,
            language=language,
            ai_profile=profile,
            behavioral=[e.content for e in behavioral],
            passages=passages,
            scenarios=scenarios,
            history=history,
            bot_name=None,
        )
        try:
            if turn.on_delta is not None and mode == "autopilot":
                guard = LeakGuard(profile, debug["_behavioral"], allowed=debug["_allowed"])
                reply = await self._streamed(request, turn.on_delta, guard)
            else:
                reply = await self.responder.reply(request)
        except ProviderError as exc:
            clock.mark("respond")
            debug["provider_error"] = str(exc)
            return self._hand_off(
                turn,
                seen,
                sentiment,
                reason="insufficient_knowledge",
                explanation="The AI provider failed; a person should answer.",
                toggles=toggles,
                back_at=back_at,
                force=True,
                debug=debug,
            )
        clock.mark("respond")
        debug["confidence"] = reply.confidence
        debug["passages_used"] = reply.passage_ids_used
        if reply.withheld:
            debug["withheld"] = reply.withheld
        if reply.withheld == "leak":
            return TurnOutcome(
                "decline", reply.text, [], language, sentiment, [], productive=False, debug=debug
            )
        unsupported = _unsupported(question, hits, reply.text)
        if unsupported:
            debug["unsupported"] = unsupported
        confident = (
            reply.withheld is None
            and reply.confidence >= self.config.min_confidence
            and not unsupported
        )
        tags = await self._tags(db, turn.org_id, turn.message, vector)
        clock.mark("after")
        if confident:
            outcome = TurnOutcome(
                "answer",
                reply.text,
                reply.citations,
                language,
                sentiment,
                tags,
                productive=True,
                debug=debug,
            )
            return _assist(outcome, mode)
        return self._unanswered(turn, seen, sentiment, tags, toggles, back_at, mode, debug)

    async def _streamed(
        self, request: ReplyRequest, on_delta: Callable[[str], Awaitable[None]], guard: LeakGuard
    ) -> Reply:
        """The reply, its text passed on as it is written. Text that might still grow into a
        protected run is held back; after a leak nothing more is passed on (the stored
        reply, which the visitor sees next, is the refusal)."""
        stream = self.responder.stream(request)
        text, shown, leaked = "", 0, False
        try:
            async for delta in stream:
                text += delta
                if leaked:
                    continue
                if guard.leaks(text):
                    leaked = True
                    continue
                ready = guard.pending_from(text)
                if ready > shown:
                    await on_delta(text[shown:ready])
                    shown = ready
        finally:
            await stream.aclose()
        if stream.reply is None:
            raise ProviderError("the reply stream ended without a reply")
        return stream.reply

    def _unanswered(
        self,
        turn: TurnInput,
        seen: Understanding,
        sentiment: Sentiment,
        tags: list[str],
        toggles: HandoffToggles,
        back_at: datetime | None,
        mode: str,
        debug: dict[str, Any],
    ) -> TurnOutcome:
        """No grounded answer: hand off when the settings say so, else ask for more."""
        misses = turn.unproductive_replies + 1
        if (
            toggles.enabled
            and toggles.on_unproductive_conversation
            and misses >= toggles.unproductive_after_turns
        ):
            reason = "insufficient_knowledge" if misses == 1 else "unproductive_conversation"
            outcome = self._hand_off(
                turn,
                seen,
                sentiment,
                reason=reason,
                explanation=(
                    "The knowledge base has no good answer to this question."
                    if misses == 1
                    else f"The AI has not helped for {misses} replies."
                ),
                toggles=toggles,
                back_at=back_at,
                debug=debug,
            )
            outcome.tags = tags
            outcome.productive = False
            return outcome
        language = seen.language
        text = f"{phrase('no_answer', language)} {phrase('clarify', language)}"
        outcome = TurnOutcome(
            "clarify", text, [], language, sentiment, tags, productive=False, debug=debug
        )
        return _assist(outcome, mode)

    def _hand_off(
        self,
        turn: TurnInput,
        seen: Understanding,
        sentiment: Sentiment,
        *,
        reason: str,
        explanation: str,
        toggles: HandoffToggles,
        back_at: datetime | None,
        debug: dict[str, Any],
        force: bool = False,
    ) -> TurnOutcome:
        """Hand off (or, with handoff switched off and not `force`d, decline), telling the
        contact when the team is back if it is away and asking for missing contact details."""
        language = seen.language
        if not toggles.enabled and not force:
            text = phrase("no_answer", language)
            return TurnOutcome("decline", text, [], language, sentiment, [], debug=debug)
        if back_at is not None:
            text = phrase("handoff_closed", language, when=_when(back_at))
        else:
            text = phrase("handoff", language)
        if toggles.require_problem_description and not _described(turn, seen):
            text = f"{text} {phrase('describe', language)}"
        missing = [f for f in toggles.collect_fields if f not in turn.known_fields]
        if missing:
            text = f"{text} {phrase('collect', language, fields=_field_list(missing, language))}"
        turns = [*turn.history, ConversationTurn("contact", turn.message)]
        summary = summarize(turns, outcome=f"Handed off: {explanation}")
        if seen.frustrated:
            summary += "\nThe contact seems frustrated."
        handoff = Handoff(
            reasons=[reason],
            explanation=explanation,
            webhook_reason=WEBHOOK_REASONS.get(reason, DEFAULT_WEBHOOK_REASON),
            summary=summary,
        )
        return TurnOutcome(
            "handoff", text, [], language, sentiment, [], handoff=handoff, debug=debug
        )

    # --- helpers ---------------------------------------------------------------------------

    def _focus(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The hits the responder reads, best first: the best pages' chunks, then the rest."""
        pages = list(dict.fromkeys(hit.page_id for hit in hits))[: self.config.focus_pages]
        taken: dict[str, int] = {}
        focused: list[SearchHit] = []
        for hit in hits:
            if hit.page_id in pages and taken.get(hit.page_id, 0) < self.config.per_focus_page:
                taken[hit.page_id] = taken.get(hit.page_id, 0) + 1
                focused.append(hit)
        rest = [hit for hit in hits if hit not in focused]
        chosen = focused[: self.config.passages]
        chosen += rest[: self.config.passages - len(chosen)]
        return sorted(chosen, key=lambda hit: -hit.score)

    async def load_org(self, db: AsyncSession, org_id: uuid.UUID) -> tuple[Org, str | None]:
        """The org and the AI profile in force: its own instructions, else the partner's."""
        org = await db.get(Org, org_id)
        if org is None:
            raise LookupError(f"org {org_id} not found")
        profile = org.ai_instructions
        if profile is None and org.partner_id is not None:
            profile = await db.scalar(
                sa.select(Partner.default_ai_instructions).where(Partner.id == org.partner_id)
            )
        return org, profile

    async def _team_back_at(
        self, db: AsyncSession, org_id: uuid.UUID, now: datetime
    ) -> datetime | None:
        """When the team is next open, if it is closed now; None while it is open (or the org
        has no schedule)."""
        schedule_id = await db.scalar(
            sa.select(HandoffSettings.office_hours_id).where(HandoffSettings.org_id == org_id)
        )
        schedule = await office_hours(db, org_id=org_id, schedule_id=schedule_id)
        if schedule is None or hours.is_open(schedule, now):
            return None
        opening = hours.next_opening(schedule, now)
        return None if opening is None else opening.astimezone(ZoneInfo(schedule.iana_timezone))

    async def embed_query(self, text: str) -> npt.NDArray[np.float32] | None:
        """The question's vector, computed once and shared by every search of a turn."""
        if self.embedder is None:
            return None
        return np.asarray((await self.embedder.embed([text]))[0], dtype=np.float32)

    async def _label_vector(self, texts: list[str]) -> npt.NDArray[np.float32] | None:
        if self.embedder is None:
            return None
        missing = [t for t in texts if t not in self._label_vectors]
        if missing:
            vectors = await self.embedder.embed(missing)
            if len(self._label_vectors) > 10_000:
                self._label_vectors.clear()
            for text, row in zip(missing, vectors, strict=True):
                self._label_vectors[text] = np.asarray(row, dtype=np.float32)
        return np.stack([self._label_vectors[t] for t in texts])

    def _term_share(self, label: str, message_terms: set[str]) -> float:
        terms = set(self._analyzer.terms(label))
        if not terms:
            return 0.0
        return len(terms & message_terms) / len(terms)

    async def _prohibited_topic(
        self,
        db: AsyncSession,
        org_id: uuid.UUID,
        message: str,
        vector: npt.NDArray[np.float32] | None,
    ) -> str | None:
        topics = (await get_autopilot(db, org_id=org_id)).topics
        if not topics:
            return None
        message_terms = set(self._analyzer.terms(message))
        cosines = await self._cosines(topics, vector)
        best: tuple[float, str] | None = None
        for topic, cosine in zip(topics, cosines, strict=True):
            share = self._term_share(topic, message_terms)
            if cosine >= self.config.topic_cosine or share >= self.config.topic_terms:
                score = max(cosine, share)
                if best is None or score > best[0]:
                    best = (score, topic)
        return None if best is None else best[1]

    async def _cosines(
        self, labels: list[str], vector: npt.NDArray[np.float32] | None
    ) -> list[float]:
        matrix = await self._label_vector(labels)
        if matrix is None or vector is None:
            return [0.0] * len(labels)
        return [float(x) for x in matrix @ vector]

    async def _tags(
        self,
        db: AsyncSession,
        org_id: uuid.UUID,
        message: str,
        vector: npt.NDArray[np.float32] | None,
    ) -> list[str]:
        """The org's auto-tagging tags this message is about: by meaning (name and
        description) or by the tag's own words appearing in it."""
        tags = await auto_tagging_candidates(db, org_id=org_id)
        if not tags:
            return []
        labels = [f"{t.tag_name}: {t.description}" if t.description else t.tag_name for t in tags]
        cosines = await self._cosines(labels, vector)
        message_terms = set(self._analyzer.terms(message))
        scored = []
        for tag, cosine in zip(tags, cosines, strict=True):
            share = self._term_share(tag.tag_name, message_terms)
            if cosine >= self.config.tag_cosine or share == 1.0:
                scored.append((max(cosine, share), tag.tag_name))
        scored.sort(reverse=True)
        return [name for _, name in scored[: self.config.max_tags]]


_WORD = re.compile(r"\w+")
_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+)+(?![\w.]*\d)")
_PRICE_QUESTION = re.compile(
    r"\b(?:how much|cost|costs|price|prices|pricing|fee|fees|per month|a month|monthly|"
    r"cuánto cuesta|precio|combien|prix|tarif|wie viel kostet|kosten|preis)\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"[$€£¥]\s?\d|\d\s?(?:[$€£¥]|usd|eur|gbp|dollars?|euros?)\b|\b(?:free of charge|"
    r"price|pricing|costs?|fees?|per (?:month|year|user)|gratis|gratuit|kostenlos)\b",
    re.IGNORECASE,
)


def _unsupported(question: str, hits: Sequence[SearchHit], reply: str) -> list[str]:
    """What the question asks that the evidence cannot back, even when passages match its
    words: a version number no retrieved passage mentions ("Django 7.0"), or a price question
    answered without any price."""
    problems = []
    evidence = " ".join(f"{h.chunk.title} {h.chunk.heading} {h.chunk.text}" for h in hits)
    for version in dict.fromkeys(_VERSION.findall(question)):
        if not re.search(rf"(?<![\w.]){re.escape(version)}(?![\w]|\.\d)", evidence):
            problems.append(f"version {version} is not in the knowledge")
    if _PRICE_QUESTION.search(question) and not _PRICE.search(reply):
        problems.append("a price question, and the reply names no price")
    return problems


def _described(turn: TurnInput, seen: Understanding) -> bool:
    """Whether the contact has said what the problem is: a message that is more than a
    request for a person or small talk."""
    said = [t.text for t in turn.history if t.role == "contact"]
    if not (seen.wants_human or seen.small_talk):
        said.append(turn.message)
    return any(
        len(_WORD.findall(text)) >= 4 and not detect_small_talk(text)
        for text in said
        if not wants_human(text)
    )


def _silent(turn: TurnInput, debug: dict[str, Any]) -> TurnOutcome:
    return TurnOutcome("silent", None, [], turn.language, "neutral", [], debug=debug)


def _assist(outcome: TurnOutcome, mode: str) -> TurnOutcome:
    """In assist mode the AI's reply is a draft for a human, never sent."""
    if mode == "assist":
        outcome.draft = True
    return outcome


def _page_passage(hit: SearchHit) -> Passage:
    chunk = hit.chunk
    return Passage(
        id=chunk.chunk_id,
        text=chunk.text,
        url=chunk.url or None,
        title=chunk.title,
        heading=chunk.heading or None,
        score=float(hit.score),
        source="page",
    )


def _scenario_passage(hit: SearchHit, entry: LiveTraining) -> Passage:
    return Passage(
        id=str(entry.id),
        text=entry.content,
        url=None,
        title=entry.title,
        heading=None,
        score=float(hit.score),
        source="training",
    )


def _hit_debug(hit: SearchHit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk.chunk_id,
        "url": hit.chunk.url,
        "title": hit.chunk.title,
        "heading": hit.chunk.heading or None,
        "score": round(float(hit.score), 4),
        "dense": round(float(hit.dense), 4),
        "lexical": round(float(hit.lexical), 4),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _when(moment: datetime) -> str:
    """A moment a visitor reads in any language: date, time and the team's time zone."""
    return f"{moment:%Y-%m-%d %H:%M} ({moment.tzinfo})"


_FIELD_NAMES: dict[str, dict[str, str]] = {
    "en": {"name": "name", "email": "email address", "phone_number": "phone number", "and": "and"},
    "es": {"name": "nombre", "email": "correo electrónico", "phone_number": "teléfono", "and": "y"},
    "fr": {"name": "nom", "email": "adresse e-mail", "phone_number": "téléphone", "and": "et"},
    "de": {
        "name": "Name",
        "email": "E-Mail-Adresse",
        "phone_number": "Telefonnummer",
        "and": "und",
    },
}


def _field_list(fields: Sequence[str], language: str | None) -> str:
    names = _FIELD_NAMES[phrase_language(language)]
    words = [names[f] for f in fields]
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {names['and']} {words[-1]}"
