"""Chat session API bodies and objects (API.md 3.4): Session, HistoryItem, the send, filter
and PATCH bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    model_validator,
)

from deskpilot.contacts.schemas import (
    ContactCustomData,
    ContactName,
    Email,
    Phone,
    ScalarCustomData,
)
from deskpilot.orgsettings.schemas import Channel, InputTimestamp, SafeText, TagName
from deskpilot.schemas import LanguageCode, Timestamp

SessionStatus = Literal["open", "closed_resolved", "closed_unresolved"]
ClosedStatus = Literal["closed_resolved", "closed_unresolved"]
AiClosureType = Literal["resolved", "assumed_resolved", "handed_off"]
Sentiment = Literal["angry", "happy", "neutral"]
SenderType = Literal["contact", "ai", "human_agent", "system"]
EventType = Literal[
    "message",
    "handoff",
    "ai_resolved_issue",
    "human_agent_comment",
    "human_agent_joined",
    "human_agent_takeover",
    "session_closed",
    "session_reopened",
    "csat_requested",
    "csat_submitted",
]

MAX_MESSAGE_LENGTH = 10_000
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_URL_LENGTH = 2048


def _http_url(value: str) -> str:
    """Stored as given, but only http(s) URLs with a host: anything else is no link."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an http or https URL")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


HttpUrlText = Annotated[
    str, StringConstraints(max_length=MAX_URL_LENGTH), SafeText, AfterValidator(_http_url)
]
MessageText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH),
    SafeText,
    AfterValidator(_not_blank),
]
ShortText = Annotated[str, StringConstraints(max_length=255), SafeText]
AgentName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SafeText]
MimeType = Annotated[
    str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
]


# Human agents' ids are stored as 32-bit integers (both databases).
AgentId = Annotated[int, Field(ge=-2_147_483_648, le=2_147_483_647)]


class ChannelRef(BaseModel):
    type: Channel


# --- create, list, filter, patch ----------------------------------------------------------


class SessionContactInput(BaseModel):
    email: Email | None = None
    name: ContactName | None = None
    phone_number: Phone | None = Field(default=None, description="E.164")
    custom_data: ContactCustomData | None = None


class SessionCreate(BaseModel):
    contact_id: uuid.UUID | None = Field(default=None, description="an existing contact")
    contact: SessionContactInput | None = Field(
        default=None,
        description="used when contact_id is absent: found by email, then phone, or created",
    )
    verified: bool | None = Field(
        default=None, description="true: contact data is verified; else non_verified_*"
    )
    channel: ChannelRef = Field(default_factory=lambda: ChannelRef(type="api"))
    custom_data: ScalarCustomData = Field(default_factory=dict)


class SessionCreated(BaseModel):
    id: uuid.UUID


class SessionFilters(BaseModel):
    """Keys combine with AND; lists match any of their values; an empty list is no filter."""

    created_after: InputTimestamp | None = None
    created_before: InputTimestamp | None = None
    last_message_after: InputTimestamp | None = None
    last_message_before: InputTimestamp | None = None
    channels: Annotated[list[Channel], Field(max_length=20)] | None = None
    statuses: Annotated[list[SessionStatus], Field(max_length=10)] | None = None
    sentiments: Annotated[list[Sentiment], Field(max_length=10)] | None = None
    tags: Annotated[list[TagName], Field(max_length=100)] | None = None
    assignee_ids: Annotated[list[AgentId | None], Field(max_length=100)] | None = Field(
        default=None, description="a null entry matches AI/unassigned sessions"
    )
    team_ids: Annotated[list[str | int], Field(max_length=100)] | None = Field(
        default=None, description="teams do not exist yet: a non-empty list matches nothing"
    )
    contact_ids: Annotated[list[uuid.UUID], Field(max_length=100)] | None = None
    languages: Annotated[list[LanguageCode], Field(max_length=50)] | None = None
    handed_off: bool | None = None
    custom_data: ScalarCustomData | None = Field(default=None, description="every pair equal")
    search: Annotated[str, StringConstraints(min_length=1, max_length=500), SafeText] | None = (
        Field(default=None, description="case-insensitive, anywhere in a message's text")
    )


class SessionFilterBody(BaseModel):
    filters: SessionFilters = Field(default_factory=SessionFilters)
    sort_by: Literal["last_message_at", "created_at"] = "last_message_at"
    sort_order: Literal["desc", "asc"] = "desc"
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=25, ge=1, le=100)


class SessionUpdate(BaseModel):
    """Omitted = unchanged, null = cleared (API.md 1.3)."""

    status: SessionStatus | None = None
    generate_summary_and_sentiment_on_resolve: bool = False
    reflect_status_change_for_integration: bool = False
    session_closed_payload: dict[str, Any] | None = Field(
        default=None, description="copied into the conversation.closed webhook as payload"
    )
    tags: Annotated[list[TagName], Field(max_length=100)] | None = Field(
        default=None, description="replaces the set; names must exist"
    )
    assignee_id: AgentId | None = Field(default=None, description="a human agent: a takeover")


# --- send ---------------------------------------------------------------------------------


class AttachmentInput(BaseModel):
    name: ShortText | None = None
    url: HttpUrlText | None = None
    base64: str | None = Field(default=None, description="the file's bytes, ≤ 10 MiB")
    mime_type: MimeType | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.base64 is None):
            raise ValueError("must give either url or base64")
        return self


class MessageInput(BaseModel):
    type: Literal["text"] = "text"
    text: MessageText
    attachments: Annotated[list[AttachmentInput], Field(max_length=MAX_ATTACHMENTS)] = Field(
        default_factory=list
    )


class SendContact(BaseModel):
    name: ContactName | None = None
    email: Email | None = None
    phone_number: Phone | None = None
    avatar_url: HttpUrlText | None = None
    custom_data: ContactCustomData | None = None


class AgentInput(BaseModel):
    id: AgentId
    name: AgentName | None = None
    avatar_url: HttpUrlText | None = None


class SendBody(BaseModel):
    sender: Literal["contact", "agent"]
    message: MessageInput
    contact: SendContact | None = Field(default=None, description="merged into the contact")
    custom_data: ScalarCustomData | None = Field(
        default=None, description="merged into the session's custom_data"
    )
    agent: AgentInput | None = Field(default=None, description="required when sender is agent")
    should_take_over_session_from_ai: bool = False


class SentMessage(BaseModel):
    id: uuid.UUID


class AutopilotValue(BaseModel):
    content: str | None
    error: str | None = None


class AutopilotResponse(BaseModel):
    """OpenCX's synchronous reply fields (`wait_for_ai=true`)."""

    type: Literal["text"] = "text"
    value: AutopilotValue
    id: uuid.UUID
    mightSolveUserIssue: bool
    completelyAndFullyCoveredUserIssue: bool


class ResolveArgs(BaseModel):
    summary: str | None
    sentiment: str | None


class SendData(BaseModel):
    message: SentMessage
    # With `wait_for_ai=true` only.
    code: str | None = None
    autopilotResponse: AutopilotResponse | None = None
    sessionIsHandedOff: bool | None = None
    resolveArgs: ResolveArgs | None = None


class SendResult(BaseModel):
    success: Literal[True] = True
    data: SendData


# --- objects ------------------------------------------------------------------------------


class ChannelRead(BaseModel):
    type: str


class TeamRead(BaseModel):
    id: str
    name: str
    description: str | None


class TicketingSystemRead(BaseModel):
    name: str
    external_id: str
    id_type: str


class SessionContactRead(BaseModel):
    id: uuid.UUID
    email: str | None
    phone_number: str | None
    name: str | None
    custom_data: dict[str, str]
    non_verified_name: str | None
    non_verified_email: str | None
    non_verified_custom_data: dict[str, str]


class HandoffRead(BaseModel):
    summary: str | None
    sentiment: Sentiment | None
    reasons: list[str]
    explanation: str | None
    created_at: Timestamp


class SessionRead(BaseModel):
    id: uuid.UUID
    ticket_number: int
    status: SessionStatus
    ai_closure_type: AiClosureType | None
    sentiment: Sentiment | None
    channel: ChannelRead
    language: str | None
    assist_mode: bool
    assignee_id: int | None
    team: TeamRead | None = None
    contact: SessionContactRead | None
    custom_data: dict[str, str | bool | int | float]
    handoff: HandoffRead | None
    ticketing_system: TicketingSystemRead | None = None
    tags: list[str]
    last_message_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class SessionPage(BaseModel):
    data: list[SessionRead]
    page: int
    limit: int
    has_next: bool
    has_previous: bool


class HistorySender(BaseModel):
    type: SenderType
    name: str | None


class HistoryContent(BaseModel):
    type: Literal["text"] = "text"
    text: str | None


class HistoryAttachment(BaseModel):
    id: str
    name: str
    size: int | None
    type: str | None
    url: str


class HistorySource(BaseModel):
    url: str
    title: str


class HistoryEvent(BaseModel):
    type: EventType
    sender: HistorySender
    content: HistoryContent
    attachments: list[HistoryAttachment]
    context: dict[str, Any] | None
    # [deskpilot] the pages an AI reply cites, in the order of its [n] markers.
    sources: list[HistorySource] = Field(default_factory=list)


class TakeoverHistoryEvent(HistoryEvent):
    """`human_agent_takeover` also names the agent. (A `handoff` routed to a helpdesk will
    carry `integration {type}` once connectors exist, API.md 6.)"""

    human_agent_id: int


class HistoryItem(BaseModel):
    id: uuid.UUID
    created_at: Timestamp
    event: TakeoverHistoryEvent | HistoryEvent
