"""Website knowledge: datasources, their crawl jobs and pages, page chunks, and the change
log that keeps every process's in-memory search index in step with the database."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UTCDateTime, UUIDPk, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class Datasource(UUIDPk, Timestamps, Base):
    __tablename__ = "datasources"
    __table_args__ = (
        Index("uq_datasources_org_url", "org_id", "url", unique=True),
        Index("ix_datasources_org_created", "org_id", "created_at", "id"),
        Index("ix_datasources_next_crawl", "next_crawl_at"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused
    page_limit: Mapped[int] = mapped_column(Integer, default=100)
    include_paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude_paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    crawl_interval_hours: Mapped[int | None] = mapped_column(Integer)
    last_crawl_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_crawl_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_crawl_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)


class CrawlJob(UUIDPk, Timestamps, Base):
    __tablename__ = "crawl_jobs"
    __table_args__ = (
        Index("ix_crawl_jobs_datasource_created", "datasource_id", "created_at", "id"),
        Index("ix_crawl_jobs_status", "status"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    datasource_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("datasources.id", ondelete="CASCADE")
    )
    # pending → scraping → completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # create|manual|schedule
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_pages: Mapped[int | None] = mapped_column(Integer)
    completed_pages: Mapped[int] = mapped_column(Integer, default=0)
    new_pages: Mapped[int] = mapped_column(Integer, default=0)
    updated_pages: Mapped[int] = mapped_column(Integer, default=0)
    removed_pages: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_pages: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    # Run bookkeeping: who holds the job and until when; a lapsed lease means the
    # runner died, and the scheduler hands the job to another.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    seeded: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rules in force for this run (copied at creation: rule changes apply from the next job).
    rules: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class Page(UUIDPk, Timestamps, Base):
    __tablename__ = "pages"
    __table_args__ = (
        Index("uq_pages_datasource_url", "datasource_id", "url", unique=True),
        Index("ix_pages_datasource_created", "datasource_id", "created_at", "id"),
        Index("ix_pages_visit", "visit_job_id", "visit_state"),
        Index("ix_pages_org", "org_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    datasource_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("datasources.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(8))
    # synced | pending | error | excluded
    status: Mapped[str] = mapped_column(String(16), default="pending")
    http_status: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content_length: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The crawl job that last queued this page and where that visit stands
    # (queued | done): the persisted frontier a killed crawl resumes from.
    visit_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    visit_state: Mapped[str | None] = mapped_column(String(8))
    depth: Mapped[int] = mapped_column(Integer, default=0)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_page", "page_id"),
        Index("ix_chunks_org_pending_embedding", "org_id", "has_embedding"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    datasource_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("datasources.id", ondelete="CASCADE")
    )
    page_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("pages.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    # Stable id of the passage (page + position + text): unchanged text keeps its key.
    chunk_key: Mapped[str] = mapped_column(String(64))
    # 0..1, how much the page reads as prose rather than a listing; a retrieval prior.
    quality: Mapped[float] = mapped_column(Float, default=1.0)
    heading_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    has_embedding: Mapped[bool] = mapped_column(Boolean, default=False)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeChange(Base):
    """Append-only: page P of org O changed (its chunks were replaced, embedded or removed)."""

    __tablename__ = "knowledge_changes"
    __table_args__ = (Index("ix_knowledge_changes_org_seq", "org_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    page_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
