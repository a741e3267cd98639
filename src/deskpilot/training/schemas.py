"""Training API bodies (API.md 3.3): entries, their versions, directories."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from deskpilot.orgsettings.schemas import Channel, InputTimestamp, SafeText, check_json_text
from deskpilot.schemas import ReadModel, Timestamp

TrainingType = Literal["BEHAVIORAL", "SCENARIO_SPECIFIC"]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), SafeText
]
Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=10, max_length=20_000), SafeText
]
Segment = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SafeText
]
Channels = Annotated[list[Channel], Field(max_length=20)]
Segments = Annotated[list[Segment], Field(max_length=50)]
DirectoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SafeText
]

MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 8 * 1024


def _unique(value: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(value)) if value is not None else None


def _check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"must have at most {MAX_METADATA_KEYS} keys")
    check_json_text(value)
    try:
        encoded = json.dumps(value, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        raise ValueError("must be plain JSON (no NaN or Infinity)") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError("must be at most 8 KB as JSON")
    return value


def _end_after_start(value: Any, info: ValidationInfo) -> Any:
    start = info.data.get("start_time")
    if value is not None and start is not None and value <= start:
        raise ValueError("must be after start_time")
    return value


class TrainingCreate(BaseModel):
    title: Title
    content: Content
    type: TrainingType = "SCENARIO_SPECIFIC"
    is_draft: bool = Field(default=False, description="drafts are stored, never used by the AI")
    directory_id: uuid.UUID | None = None
    restricted_to_channels: Channels = Field(
        default_factory=list, description="empty = all channels"
    )
    restricted_to_segments: Segments = Field(
        default_factory=list, description="empty = all contacts"
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="free key/value; at most 50 keys and 8 KB"
    )
    start_time: InputTimestamp | None = None
    end_time: InputTimestamp | None = Field(default=None, description="after start_time")

    _unique_lists = field_validator("restricted_to_channels", "restricted_to_segments")(_unique)
    _metadata = field_validator("metadata")(_check_metadata)
    _window = field_validator("end_time")(_end_after_start)


class TrainingUpdate(BaseModel):
    """Partial. On a published entry, `is_draft: true` keeps the edits as a draft while the
    live version serves; false or omitted publishes them as the next version."""

    title: Title | None = None
    content: Content | None = None
    type: TrainingType | None = None
    is_draft: bool | None = None
    directory_id: uuid.UUID | None = None
    restricted_to_channels: Channels | None = None
    restricted_to_segments: Segments | None = None
    metadata: dict[str, Any] | None = None
    start_time: InputTimestamp | None = None
    end_time: InputTimestamp | None = None

    _unique_lists = field_validator("restricted_to_channels", "restricted_to_segments")(_unique)
    _metadata = field_validator("metadata")(_check_metadata)
    _window = field_validator("end_time")(_end_after_start)


class TrainingRead(ReadModel):
    id: uuid.UUID
    title: str
    content: str
    draft_title: str | None
    draft_content: str | None
    type: TrainingType
    is_draft: bool
    directory_id: uuid.UUID | None
    restricted_to_channels: list[Channel]
    restricted_to_segments: list[str]
    current_version: int | None
    # The ORM attribute is `metadata_` (declarative classes reserve `metadata`).
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    published_at: Timestamp | None
    start_time: Timestamp | None
    end_time: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class DraftToggle(BaseModel):
    is_draft: bool = Field(description="false publishes the pending draft; true unpublishes")


class TrainingMove(BaseModel):
    directory_id: uuid.UUID | None = Field(description="null = no directory")


class VersionRead(ReadModel):
    version: int
    title: str
    content: str
    published_at: Timestamp


class DirectoryCreate(BaseModel):
    name: DirectoryName
    parent_id: uuid.UUID | None = None


class DirectoryUpdate(BaseModel):
    name: DirectoryName | None = None
    parent_id: uuid.UUID | None = Field(default=None, description="null = top level")


class DirectoryRead(ReadModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    created_at: Timestamp
    updated_at: Timestamp


class TrainingSearch(BaseModel):
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), SafeText
    ]
    limit: int = Field(default=5, ge=1, le=20)
    sources: list[Literal["training", "pages"]] = Field(
        default=["training", "pages"], min_length=1, max_length=2
    )
    include_drafts: bool = False


class TrainingSearchResult(BaseModel):
    source: Literal["training", "page"]
    id: str
    title: str
    snippet: str
    url: str | None
    score: float


class TrainingSearchResults(BaseModel):
    results: list[TrainingSearchResult]


class GenerateFromSession(BaseModel):
    session_id: uuid.UUID
