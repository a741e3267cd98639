"""What the templates show of a history event and of the AI's debug record: plain values,
so the templates stay free of logic and never see a link that is not http(s)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskpilot.dashboard.service import Member
from deskpilot.models import ChatEvent

_LIFECYCLE = {
    "handoff": "Handed off to the team",
    "ai_resolved_issue": "The AI marked the issue resolved",
    "session_closed": "Conversation closed",
    "session_reopened": "Conversation reopened",
    "csat_requested": "Satisfaction rating requested",
    "csat_submitted": "Satisfaction rating submitted",
}
_TIMING_STAGES = ("gate", "understand", "retrieve", "respond", "after", "total")


def safe_url(value: object) -> str | None:
    """Only http(s) links reach an href."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return value
    return None


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    url: str | None


@dataclass(frozen=True, slots=True)
class EventView:
    id: str
    seq: int
    type: str
    kind: str  # contact | ai | agent | note | system
    author: str
    text: str | None
    label: str | None  # a lifecycle event's sentence
    created_at: datetime
    sources: list[Source]
    attachments: list[Attachment]
    debug: dict[str, Any] | None
    redacted: bool


def _member_name(event: ChatEvent, members: Mapping[int, Member]) -> str:
    if event.sender_name:
        return event.sender_name
    if event.sender_id is not None and event.sender_id in members:
        return members[event.sender_id].name
    return f"Agent #{event.sender_id}" if event.sender_id is not None else "An agent"


def event_view(event: ChatEvent, members: Mapping[int, Member]) -> EventView:
    kind, author, label = "system", "System", _LIFECYCLE.get(event.type)
    if event.type == "message":
        if event.sender_type == "contact":
            kind, author = "contact", event.sender_name or "Contact"
        elif event.sender_type == "ai":
            kind, author = "ai", "AI"
        elif event.sender_type == "human_agent":
            kind, author = "agent", _member_name(event, members)
    elif event.type == "human_agent_comment":
        kind, author = "note", _member_name(event, members)
    elif event.type == "human_agent_takeover":
        author = _member_name(event, members)
        label = f"{author} took over from the AI"
    elif event.type == "human_agent_joined":
        author = _member_name(event, members)
        label = f"{author} joined the conversation"
    elif event.sender_type == "ai":
        author = "AI"
    return EventView(
        id=str(event.id),
        seq=event.seq,
        type=event.type,
        kind=kind,
        author=author,
        text=event.text,
        label=label or event.type.replace("_", " ").capitalize(),
        created_at=event.created_at,
        sources=[
            Source(str(item.get("title") or item.get("url") or "Source"), safe_url(item.get("url")))
            for item in event.citations or ()
        ],
        attachments=[
            Attachment(str(item.get("name") or "attachment"), safe_url(item.get("url")))
            for item in event.attachments or ()
        ],
        debug=event.debug or None,
        redacted=event.redacted,
    )


@dataclass(frozen=True, slots=True)
class KnowledgeUsed:
    title: str
    heading: str | None
    url: str | None
    score: float | None
    dense: float | None
    lexical: float | None
    used: bool


@dataclass(frozen=True, slots=True)
class ScenarioUsed:
    title: str
    score: float | None
    used: bool


@dataclass(frozen=True, slots=True)
class DebugView:
    decision: str | None
    confidence: float | None
    responder: str | None
    channel: str | None
    autopilot_mode: str | None
    gate: str | None
    guardrail: str | None
    withheld: str | None
    topic: str | None
    draft: str | None
    provider_error: str | None
    handoff_reasons: list[str]
    handoff_explanation: str | None
    knowledge: list[KnowledgeUsed]
    scenarios: list[ScenarioUsed]
    instructions: list[str]
    understanding: list[tuple[str, str]]
    unsupported: list[str]
    timings: list[tuple[str, float]]
    raw: str = field(repr=False, default="")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def debug_view(debug: Mapping[str, Any]) -> DebugView:
    """The turn record (agent/turn.py) in reading order; unknown keys stay in `raw`."""
    used = {str(item) for item in debug.get("passages_used") or ()}
    handoff = debug.get("handoff") if isinstance(debug.get("handoff"), dict) else {}
    assert isinstance(handoff, dict)
    understanding = debug.get("understanding")
    timings = debug.get("timings_ms") if isinstance(debug.get("timings_ms"), dict) else {}
    assert isinstance(timings, dict)
    ordered = [stage for stage in _TIMING_STAGES if stage in timings]
    ordered += [stage for stage in timings if stage not in _TIMING_STAGES]
    return DebugView(
        decision=_text(debug.get("decision")),
        confidence=_number(debug.get("confidence")),
        responder=_text(debug.get("responder")),
        channel=_text(debug.get("channel")),
        autopilot_mode=_text(debug.get("autopilot_mode")),
        gate=_text(debug.get("gate")),
        guardrail=_text(debug.get("guardrail")),
        withheld=_text(debug.get("withheld")),
        topic=_text(debug.get("topic")),
        draft=_text(debug.get("draft")),
        provider_error=_text(debug.get("provider_error")),
        handoff_reasons=[str(reason) for reason in handoff.get("reasons") or ()],
        handoff_explanation=_text(handoff.get("explanation")),
        knowledge=[
            KnowledgeUsed(
                title=str(item.get("title") or item.get("url") or "Page"),
                heading=_text(item.get("heading")),
                url=safe_url(item.get("url")),
                score=_number(item.get("score")),
                dense=_number(item.get("dense")),
                lexical=_number(item.get("lexical")),
                used=str(item.get("chunk_id")) in used,
            )
            for item in _dicts(debug.get("knowledge"))
        ],
        scenarios=[
            ScenarioUsed(
                title=str(item.get("title") or "Scenario"),
                score=_number(item.get("score")),
                used=str(item.get("id")) in used,
            )
            for item in _dicts(debug.get("scenarios"))
        ],
        instructions=[
            f"{item.get('title') or 'Instruction'} (v{item.get('version', '?')})"
            for item in _dicts(debug.get("instructions"))
        ],
        understanding=[
            (str(key).replace("_", " "), str(value))
            for key, value in (understanding.items() if isinstance(understanding, dict) else ())
        ],
        unsupported=[str(item) for item in debug.get("unsupported") or ()],
        timings=[
            (stage, float(timings[stage]))
            for stage in ordered
            if _number(timings[stage]) is not None
        ],
        raw=json.dumps(debug, indent=2, sort_keys=True, default=str),
    )
