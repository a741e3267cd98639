"""Webhook API bodies (API.md 3.10) and the event names of API.md 5."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from deskpilot.orgsettings.schemas import SafeText
from deskpilot.schemas import ReadModel, Timestamp

# Every name of API.md 5, emitted or reserved: a subscription to a reserved one is kept for
# when it starts being sent.
EVENT_NAMES = frozenset(
    {
        "conversation.started",
        "conversation.closed",
        "conversation.handoff_to_human",
        "conversation.third_party_agent_response",
        "conversation.contact_response",
        "conversation.ai_response",
        "conversation.agent_response",
        "conversation.handoff_to_third_party_failed",
        "csat.requested",
        "csat.score_submitted",
        "crawl.job.completed",
        "crawl.job.failed",
        "webhook.test",
        "workflow.run.succeeded",
        "workflow.run.failed",
        "phone_call.started",
        "phone_call.ended",
    }
)
ALL_EVENTS = "*"
MAX_EVENTS = 50

DeliveryStatus = Literal["pending", "retrying", "succeeded", "failed"]
DisabledReason = Literal["manual", "gone", "failing"]


def _known_events(names: list[str]) -> list[str]:
    """Known names, each once, in the order given; `*` alone stands for all of them."""
    for name in names:
        if name != ALL_EVENTS and name not in EVENT_NAMES:
            raise ValueError(f"contains an unknown event name {name!r}")
    if ALL_EVENTS in names:
        return [ALL_EVENTS]
    return list(dict.fromkeys(names))


WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048), SafeText
]
EventList = Annotated[
    list[str], Field(min_length=1, max_length=MAX_EVENTS), AfterValidator(_known_events)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SafeText]


class WebhookCreate(BaseModel):
    url: WebhookUrl = Field(description="https; must resolve to a public address")
    events: EventList = Field(description='event names (API.md 5), or ["*"] for all')
    description: Description | None = None
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Omitted = unchanged; `description: null` clears it."""

    url: WebhookUrl | None = None
    events: EventList | None = None
    description: Description | None = None
    enabled: bool | None = None


class WebhookRead(ReadModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: DisabledReason | None
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(WebhookRead):
    secret: str = Field(description="dp_whsec_…; shown only here and on rotation")


class WebhookSecret(BaseModel):
    secret: str


class DeliveryRead(ReadModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event: str
    status: DeliveryStatus
    attempts: int
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None
    response_status: int | None
    response_time_ms: int | None
    error: str | None
    created_at: Timestamp
