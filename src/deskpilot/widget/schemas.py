"""Widget API bodies and objects (API.md 3.12, 4, 4.1, 4.2), in OpenCX's mixed casing."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from deskpilot.contacts.schemas import ContactCustomData, ContactName, Email, Phone
from deskpilot.contacts.schemas import ScalarCustomData as FlatCustomData
from deskpilot.conversations.schemas import (
    MAX_ATTACHMENTS,
    HistoryAttachment,
    HistorySource,
    HttpUrlText,
    MessageText,
    ShortText,
)
from deskpilot.orgsettings.schemas import SafeText, check_json_text
from deskpilot.schemas import Timestamp

WidgetLanguage = Literal[
    "en", "fr", "de", "nl", "pl", "pt", "es", "it", "ru", "ja", "ko", "zh", "ar", "tr", "sv",
    "da", "no", "fi", "el", "cs", "hu", "th", "vi", "id", "he", "hi", "uk", "ro", "bg", "hr",
    "sk", "sl", "sr", "et", "lv", "lt", "is", "ga", "ms", "tl", "fa", "bn", "ta", "te", "ur",
    "sw", "zu", "af", "sq", "hy", "az", "eu", "be", "bs", "ca", "cy",
]  # fmt: skip
ChatContext = Annotated[str, StringConstraints(max_length=10_000), SafeText]
Feedback = Annotated[str, StringConstraints(max_length=2_000), SafeText]
ActionParams = dict[str, Any]


# --- contact tokens ---------------------------------------------------------------------


class HttpActionOverrides(BaseModel):
    query_params: ActionParams | None = None
    path_params: ActionParams | None = None
    body_params: ActionParams | None = None
    headers: ActionParams | None = None


class AuthenticateUser(BaseModel):
    email: Email
    name: ContactName | None = None
    avatar_url: HttpUrlText | None = None
    phone: Phone | None = Field(default=None, description="with country code (E.164)")
    language: WidgetLanguage | None = None
    customData: ContactCustomData | None = None
    chat_context: ChatContext | None = Field(
        default=None, description="extra context for the AI; stored"
    )
    http_action_overrides: HttpActionOverrides | None = Field(
        default=None, description="stored until actions exist (API.md 6)"
    )


class ContactRef(BaseModel):
    id: UUID


class AuthenticatedUser(BaseModel):
    token: str
    contact: ContactRef


class CreateUnverified(BaseModel):
    email: Email | None = None
    non_verified_name: ContactName | None = None
    non_verified_custom_data: ContactCustomData | None = None


class ContactToken(BaseModel):
    token: str


# --- config and prelude -----------------------------------------------------------------


class OrgRef(BaseModel):
    id: UUID
    name: str


class Mode(BaseModel):
    id: str
    name: str
    slug: str


class Push(BaseModel):
    sse: bool


class WidgetConfig(BaseModel):
    org: OrgRef
    sessionsPollingIntervalSeconds: int
    sessionPollingIntervalSeconds: int
    modes: list[Mode]
    push: Push


class HoursRange(BaseModel):
    model_config = {"populate_by_name": True}

    from_: str = Field(alias="from", serialization_alias="from")
    to: str


class OfficeHoursNow(BaseModel):
    """[deskpilot] whether the team is in right now, and when that changes."""

    isOpen: bool
    nextChangeAt: Timestamp | None


class Prelude(BaseModel):
    initialQuestions: list[str]
    aiEnabled: bool
    officeHours: dict[str, HoursRange]
    officeHoursTimezone: str | None
    organizationName: str
    officeHoursStatus: OfficeHoursNow
    # [deskpilot] the org's `/widget-settings`; the embed's own options win over these.
    initialMessages: list[str]
    botName: str | None
    botAvatarUrl: str | None
    primaryColor: str | None


# --- sessions and history ---------------------------------------------------------------


class SessionCreateBody(BaseModel):
    customData: FlatCustomData = Field(default_factory=dict)


class Assignee(BaseModel):
    kind: Literal["human", "ai", "none"]
    name: str | None
    avatarUrl: str | None


class WidgetSessionRead(BaseModel):
    id: UUID
    ticketNumber: int
    createdAt: Timestamp
    updatedAt: Timestamp
    isHandedOff: bool
    isOpened: bool
    assignee: Assignee
    channel: str
    isVerified: bool
    lastMessage: str | None
    modeId: str | None
    latestStateCheckpointPayload: dict[str, Any] | None


class WidgetSessionPage(BaseModel):
    items: list[WidgetSessionRead]
    next: str | None


class HistoryContent(BaseModel):
    text: str | None


class HistorySender(BaseModel):
    kind: Literal["user", "agent", "ai", "system", "unknown"]
    name: str | None
    avatar: str | None


class WidgetHistory(BaseModel):
    publicId: UUID
    type: str
    content: HistoryContent
    sender: HistorySender
    sentAt: Timestamp
    attachments: list[HistoryAttachment]
    systemMessagePayload: dict[str, Any] | None
    sources: list[HistorySource] = Field(
        default_factory=list, description="[deskpilot] pages the AI's answer is based on"
    )


class PollResult(BaseModel):
    session: WidgetSessionRead
    history: list[WidgetHistory]


# --- send -------------------------------------------------------------------------------


class SendAttachment(BaseModel):
    id: str = Field(max_length=64)
    name: ShortText | None = None
    size: int | None = None
    type: str | None = Field(default=None, max_length=255)
    url: str | None = Field(default=None, max_length=2048)


class InitialMessage(BaseModel):
    uuid: UUID
    content: MessageText


class WidgetSendBody(BaseModel):
    uuid: UUID
    content: MessageText
    session_id: UUID
    bot_token: str = Field(max_length=64)
    language: str | None = Field(default=None, max_length=16)
    attachments: Annotated[list[SendAttachment], Field(max_length=MAX_ATTACHMENTS)] = Field(
        default_factory=list
    )
    clientContext: dict[str, Any] | None = None
    custom_data: FlatCustomData | None = None
    headers: ActionParams | None = None
    query_params: ActionParams | None = None
    body_properties: ActionParams | None = None
    exit_mode_prompt: str | None = None
    action_form_submitted_prompt: str | None = None
    initial_messages: Annotated[list[InitialMessage], Field(max_length=10)] = Field(
        default_factory=list
    )


class AutopilotValue(BaseModel):
    error: str | None
    content: str | None


class AutopilotResponse(BaseModel):
    type: Literal["text"] = "text"
    value: AutopilotValue
    id: UUID
    mightSolveUserIssue: bool
    completelyAndFullyCoveredUserIssue: bool


class SendSuccess(BaseModel):
    success: Literal[True] = True
    # [deskpilot] the `publicId` of the contact's own message, as history and push show it.
    messageId: UUID | None = None
    code: str | None = None
    autopilotResponse: AutopilotResponse | None = None
    sessionIsHandedOff: bool | None = None
    session: WidgetSessionRead | None = None


class SendErrorDetail(BaseModel):
    code: Literal[
        "session_not_found", "session_closed", "rate_limited", "ai_unavailable", "invalid_request"
    ]
    message: str


class SendFailure(BaseModel):
    success: Literal[False] = False
    error: SendErrorDetail


# --- resolve, vote, csat, upload --------------------------------------------------------


class ResolveBody(BaseModel):
    session_id: UUID


class CheckpointBody(BaseModel):
    session_id: UUID
    payload: Annotated[dict[str, Any], AfterValidator(check_json_text)]


class ActionExecuteBody(BaseModel):
    sessionId: UUID
    formMessageId: str | None = None
    actionId: str
    request: dict[str, Any] = Field(default_factory=dict)


class Success(BaseModel):
    success: bool


class VoteBody(BaseModel):
    action: Literal["upvote", "downvote"]
    sessionId: UUID
    messagePublicId: UUID


class VoteResult(BaseModel):
    messagePublicId: UUID
    success: bool


class CsatBody(BaseModel):
    session_id: UUID
    score: int = Field(ge=1, le=5)
    feedback: Feedback | None = None
    system_message_uuid: UUID | None = None


class UploadResult(BaseModel):
    fileName: str
    fileUrl: str
    id: UUID = Field(description="[deskpilot] pass it back as attachments[].id")


# --- push (API.md 4.3) --------------------------------------------------------------------


class StreamTicketBody(BaseModel):
    session_id: UUID


class StreamTicketRead(BaseModel):
    ticket: str
    expires_at: Timestamp
