"""Crawl API bodies (API.md 3.2): datasources, crawl jobs, pages, knowledge search."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, StringConstraints, field_validator

from deskpilot.schemas import ReadModel, Timestamp

PathPattern = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PathPatterns = Annotated[list[PathPattern], Field(max_length=50)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PageLimit = Annotated[int, Field(ge=1, le=5000)]
IntervalHours = Annotated[int, Field(ge=24, le=24 * 365)]

MAX_PAGE_LIMIT = 5000


def _patterns_start_with_slash(value: list[str] | None) -> list[str] | None:
    if value is None:
        return value
    for pattern in value:
        if not pattern.startswith("/") and not pattern.startswith("*"):
            raise ValueError("patterns must start with / or *")
    return value


class DatasourceCreate(BaseModel):
    url: AnyHttpUrl = Field(max_length=2048)
    display_name: DisplayName | None = None
    page_limit: PageLimit | None = 100
    include_paths: PathPatterns = Field(default_factory=list)
    exclude_paths: PathPatterns = Field(default_factory=list)
    crawl_interval_hours: IntervalHours | None = 168
    auto_start_crawl: bool = True

    _check_paths = field_validator("include_paths", "exclude_paths")(_patterns_start_with_slash)


class DatasourceUpdate(BaseModel):
    display_name: DisplayName | None = None
    page_limit: PageLimit | None = None
    include_paths: PathPatterns | None = None
    exclude_paths: PathPatterns | None = None
    crawl_interval_hours: IntervalHours | None = None
    status: Literal["active", "paused"] | None = None

    _check_paths = field_validator("include_paths", "exclude_paths")(_patterns_start_with_slash)


class DatasourceRead(ReadModel):
    id: uuid.UUID
    url: str
    display_name: str
    status: Literal["active", "paused"]
    page_limit: int
    include_paths: list[str]
    exclude_paths: list[str]
    crawl_interval_hours: int | None
    last_crawl_started_at: Timestamp | None
    last_crawl_completed_at: Timestamp | None
    next_crawl_at: Timestamp | None
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp


class PageStats(BaseModel):
    total: int
    synced: int
    pending: int
    error: int
    excluded: int


JobStatus = Literal["pending", "scraping", "completed", "failed", "cancelled"]


class ActiveCrawlJob(ReadModel):
    id: uuid.UUID
    status: JobStatus
    total_pages: int | None
    completed_pages: int
    new_pages: int
    updated_pages: int
    removed_pages: int
    unchanged_pages: int
    started_at: Timestamp | None


class DatasourceDetail(DatasourceRead):
    page_stats: PageStats
    active_crawl_job: ActiveCrawlJob | None


class CrawlJobRead(ReadModel):
    id: uuid.UUID
    datasource_id: uuid.UUID
    status: JobStatus
    trigger: Literal["create", "manual", "schedule"]
    started_at: Timestamp | None
    completed_at: Timestamp | None
    total_pages: int | None
    completed_pages: int
    new_pages: int
    updated_pages: int
    removed_pages: int
    unchanged_pages: int
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp


PageStatus = Literal["synced", "pending", "error", "excluded"]


class PageRead(ReadModel):
    id: uuid.UUID
    datasource_id: uuid.UUID
    url: str
    title: str | None
    status: PageStatus
    http_status: int | None
    content_hash: str | None
    content_length: int | None
    error_message: str | None
    last_synced_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class PageDetail(PageRead):
    content: str | None


class KnowledgeSearch(BaseModel):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    limit: Annotated[int, Field(ge=1, le=50)] = 10
    datasource_ids: list[uuid.UUID] | None = None
    include_training: bool = False


class KnowledgeHit(BaseModel):
    chunk_id: str
    url: str | None
    title: str
    heading: str | None
    text: str
    score: float
    source: Literal["page", "training"]
    datasource_id: uuid.UUID | None
    page_id: uuid.UUID | None


class KnowledgeResults(BaseModel):
    items: list[KnowledgeHit]
