"""Handoff analytics objects (API.md 3.11): the overview and the list of handoffs."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from deskpilot.schemas import Timestamp

HandoffReason = Literal[
    "based_on_instructions",
    "instructions_not_clear",
    "insufficient_knowledge",
    "insufficient_tools",
    "prohibited_topic",
    "user_requested_human_assistance",
    "user_frustrated",
    "unproductive_conversation",
]

# How the written summary and the dashboard name each reason.
REASON_LABELS: dict[str, str] = {
    "based_on_instructions": "the AI's instructions called for a person",
    "instructions_not_clear": "unclear instructions",
    "insufficient_knowledge": "missing knowledge",
    "insufficient_tools": "a request the AI has no tool for",
    "prohibited_topic": "a topic reserved for the team",
    "user_requested_human_assistance": "the contact asked for a person",
    "user_frustrated": "a frustrated contact",
    "unproductive_conversation": "the conversation made no progress",
}


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason.replace("_", " "))


class ReasonCount(BaseModel):
    reason: str
    count: int
    percentage: float = Field(description="of the handoffs, 0-100 with one decimal")


class ReasonCombination(BaseModel):
    reasons: list[str]
    session_count: int
    percentage: float = Field(description="of the handoffs, 0-100 with one decimal")


class SentimentCount(BaseModel):
    sentiment: str = Field(description="angry, happy, neutral, or unknown when none was recorded")
    count: int
    percentage: float = Field(description="of the handoffs, 0-100 with one decimal")


class DailyCount(BaseModel):
    date: str = Field(description="YYYY-MM-DD (UTC)")
    count: int


class Reference(BaseModel):
    type: str = Field(description="page (id: its URL), training (id: the item's id), topic")
    id: str
    count: int = Field(description="handed-off conversations in which the AI consulted it")


class HandoffAnalyticsRead(BaseModel):
    summary: str
    total_handoffs: int = Field(description="conversations handed off in the period")
    total_sessions: int = Field(description="conversations started in the period")
    start_date: Timestamp
    end_date: Timestamp
    reasons: list[ReasonCount]
    reason_combinations: list[ReasonCombination]
    sentiments: list[SentimentCount]
    trends: list[DailyCount]
    knowledge_references: list[Reference]
    tool_references: list[Reference]
    instruction_references: list[Reference]
    prohibited_topic_references: list[Reference]


class HandoffEventRead(BaseModel):
    session_id: uuid.UUID
    summary: str | None
    explanation: str | None
    reasons: list[str]
    created_at: Timestamp


class HandoffEventPage(BaseModel):
    items: list[HandoffEventRead]
    next: str | None
    total: int
