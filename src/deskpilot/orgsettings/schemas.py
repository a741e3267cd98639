"""Org settings bodies (API.md 3.6-3.9): office hours, tags, autopilot, handoff; and the
input vocabulary training and contacts share with them (channels, safe text, timestamps)."""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from deskpilot.schemas import HexColor, HttpsUrl, ReadModel, Timestamp

# --- shared input vocabulary -------------------------------------------------------------

# Append new values at the end: training stores channel restrictions as bit masks by position.
Channel = Literal[
    "web",
    "email",
    "phone_voice",
    "slack",
    "sms",
    "whatsapp",
    "instagram",
    "messenger",
    "api",
    "web_voice",
]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
VOICE_CHANNELS: frozenset[str] = frozenset({"phone_voice", "web_voice"})


def check_text(value: str) -> str:
    """Text the databases can store: PostgreSQL refuses NUL characters, and neither driver
    can encode a lone surrogate (which JSON's \\uD800 escapes can produce)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def check_json_text(value: Any) -> Any:
    """`check_text` over every key and string inside a JSON value."""
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key))
            check_json_text(item)
    elif isinstance(value, list):
        for item in value:
            check_json_text(item)
    return value


SafeText = AfterValidator(check_text)


def _as_utc(value: datetime) -> datetime:
    """Any offset is accepted on input; a timestamp without one is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


InputTimestamp = Annotated[datetime, AfterValidator(_as_utc)]


# --- office hours ------------------------------------------------------------------------

DayOfWeek = Literal[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "monday_to_friday",
    "everyday",
    "saturday_to_sunday",
]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")
END_OF_DAY = "24:00:00"


def clock_seconds(value: str) -> int:
    if value == END_OF_DAY:
        return 86_400
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError("must be a time of day as HH:MM:SS")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def clock_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_zone(value: str) -> str:
    # Membership first: ZoneInfo() itself would also try file paths and directories.
    if value not in _known_zones():
        raise ValueError("must be an IANA time zone such as America/New_York")
    return value


ClockTime = Annotated[
    str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|24:00:00)$")
]


class ShiftInput(BaseModel):
    id: uuid.UUID | None = Field(default=None, description="PUT only: keeps that shift's id")
    day_of_week: DayOfWeek
    start_time: ClockTime = Field(examples=["09:00:00"])
    end_time: ClockTime = Field(
        examples=["17:00:00"], description="After start_time; 24:00:00 = end of the day"
    )

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        if value == END_OF_DAY:
            raise ValueError("must be before 24:00:00")
        return value

    @field_validator("end_time")
    @classmethod
    def _end(cls, value: str, info: ValidationInfo) -> str:
        end = clock_seconds(value)
        start = info.data.get("start_time")
        if start is not None and end <= clock_seconds(start):
            raise ValueError("must be after start_time (split a shift past midnight in two)")
        return value


class ScheduleInput(BaseModel):
    """POST and PUT: PUT replaces the schedule, shifts included."""

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SafeText
    ]
    iana_timezone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_zone)]
    shifts: Annotated[list[ShiftInput], Field(min_length=1, max_length=50)]
    is_default: bool | None = Field(
        default=None, description="true makes this the default schedule; omitted = unchanged"
    )


class ShiftRead(BaseModel):
    id: uuid.UUID
    day_of_week: DayOfWeek
    start_time: str
    end_time: str
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleRead(BaseModel):
    id: uuid.UUID
    name: str
    iana_timezone: str
    is_default: bool
    shifts: list[ShiftRead]
    created_at: Timestamp
    updated_at: Timestamp


class OfficeHoursStatus(BaseModel):
    is_open: bool
    schedule_id: uuid.UUID | None
    iana_timezone: str | None
    next_change_at: Timestamp | None


# --- tags --------------------------------------------------------------------------------

TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), SafeText
]


class TagUpsert(BaseModel):
    tag_name: TagName
    description: Annotated[str, StringConstraints(max_length=160), SafeText] | None = None
    exclude_from_auto_tagging: bool | None = None
    category_id: uuid.UUID | None = Field(
        default=None, description="omitted = unchanged, null = cleared"
    )


class TagRead(ReadModel):
    tag_name: str
    description: str | None
    exclude_from_auto_tagging: bool
    category_id: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp


# --- autopilot ---------------------------------------------------------------------------

AutopilotMode = Literal["autopilot", "assist", "off"]
Topic = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), SafeText
]


class ChannelMode(BaseModel):
    mode: AutopilotMode


class AutopilotRead(BaseModel):
    channels: dict[Channel, ChannelMode]
    topics: list[str]
    updated_at: Timestamp | None = Field(description="null until first changed")


def _known_channels(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key not in CHANNELS:
                raise ValueError(f"has an unknown channel '{key}'")
    return value


class AutopilotUpdate(BaseModel):
    channels: Annotated[dict[Channel, ChannelMode], BeforeValidator(_known_channels)] | None = (
        Field(default=None, description="only the channels listed change")
    )
    topics: Annotated[list[Topic], Field(max_length=100)] | None = Field(
        default=None, description="replaces the list; de-duplicated case-insensitively"
    )

    @field_validator("channels")
    @classmethod
    def _no_assist_on_voice(
        cls, value: dict[Channel, ChannelMode] | None
    ) -> dict[Channel, ChannelMode] | None:
        for channel, setting in (value or {}).items():
            if setting.mode == "assist" and channel in VOICE_CHANNELS:
                raise ValueError(f"must not use assist mode on {channel} (a voice channel)")
        return value

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        seen: set[str] = set()
        unique: list[str] = []
        for topic in value:
            if topic.casefold() not in seen:
                seen.add(topic.casefold())
                unique.append(topic)
        return unique


# --- handoff -----------------------------------------------------------------------------

HandoffMode = Literal["preset", "advanced"]
CollectField = Literal["name", "email", "phone_number"]
OutsideOfficeHours = Literal["handoff", "ai_only"]


class HandoffToggles(BaseModel):
    enabled: bool
    on_frustration: bool
    on_unproductive_conversation: bool
    unproductive_after_turns: int
    on_human_request: bool
    require_problem_description: bool
    collect_fields: list[CollectField]
    outside_office_hours: OutsideOfficeHours


class HandoffTogglesUpdate(BaseModel):
    """Partial: omitted toggles stay as they are."""

    enabled: bool | None = None
    on_frustration: bool | None = None
    on_unproductive_conversation: bool | None = None
    unproductive_after_turns: Annotated[int, Field(ge=1, le=10)] | None = None
    on_human_request: bool | None = None
    require_problem_description: bool | None = None
    collect_fields: Annotated[list[CollectField], Field(max_length=3)] | None = None
    outside_office_hours: OutsideOfficeHours | None = None

    @field_validator("collect_fields")
    @classmethod
    def _unique_fields(cls, value: list[CollectField] | None) -> list[CollectField] | None:
        return list(dict.fromkeys(value)) if value is not None else None


class HandoffSettingsRead(BaseModel):
    mode: HandoffMode
    preset_level: int
    advanced: HandoffToggles
    effective: HandoffToggles = Field(description="read-only: the toggles in force now")
    office_hours_id: uuid.UUID | None
    updated_at: Timestamp | None = Field(description="null until first changed")


class HandoffSettingsUpdate(BaseModel):
    mode: HandoffMode | None = None
    preset_level: Annotated[int, Field(ge=0, le=3)] | None = None
    advanced: HandoffTogglesUpdate | None = None
    office_hours_id: uuid.UUID | None = Field(
        default=None, description="null = the org's default schedule"
    )


# --- widget settings ---------------------------------------------------------------------

WidgetLine = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), SafeText
]


class WidgetSettingsRead(BaseModel):
    initial_questions: list[str] = Field(description="suggested questions shown before a chat")
    initial_messages: list[str] = Field(description="greeting lines shown by the bot")
    bot_name: str | None
    bot_avatar_url: str | None
    primary_color: str | None
    updated_at: Timestamp | None = Field(description="null until first changed")


class WidgetSettingsUpdate(BaseModel):
    """Partial: omitted keys unchanged; `null` clears a name, avatar or colour."""

    initial_questions: Annotated[list[WidgetLine], Field(max_length=6)] | None = None
    initial_messages: Annotated[list[WidgetLine], Field(max_length=5)] | None = None
    bot_name: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60), SafeText
        ]
        | None
    ) = None
    bot_avatar_url: HttpsUrl | None = None
    primary_color: HexColor | None = None
