"""knowledge

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasources",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("page_limit", sa.Integer(), nullable=False),
        sa.Column("include_paths", sa.JSON(), nullable=False),
        sa.Column("exclude_paths", sa.JSON(), nullable=False),
        sa.Column("crawl_interval_hours", sa.Integer(), nullable=True),
        sa.Column("last_crawl_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_crawl_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_crawl_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_datasources_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasources")),
    )
    with op.batch_alter_table("datasources", schema=None) as batch_op:
        batch_op.create_index("ix_datasources_next_crawl", ["next_crawl_at"], unique=False)
        batch_op.create_index(
            "ix_datasources_org_created", ["org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("uq_datasources_org_url", ["org_id", "url"], unique=True)

    op.create_table(
        "knowledge_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("page_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_knowledge_changes_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_knowledge_changes")),
    )
    with op.batch_alter_table("knowledge_changes", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_changes_org_seq", ["org_id", "seq"], unique=False)

    op.create_table(
        "crawl_jobs",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("datasource_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_pages", sa.Integer(), nullable=True),
        sa.Column("completed_pages", sa.Integer(), nullable=False),
        sa.Column("new_pages", sa.Integer(), nullable=False),
        sa.Column("updated_pages", sa.Integer(), nullable=False),
        sa.Column("removed_pages", sa.Integer(), nullable=False),
        sa.Column("unchanged_pages", sa.Integer(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("seeded", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datasource_id"],
            ["datasources.id"],
            name=op.f("fk_crawl_jobs_datasource_id_datasources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_crawl_jobs_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_jobs")),
    )
    with op.batch_alter_table("crawl_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crawl_jobs_datasource_created", ["datasource_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_crawl_jobs_status", ["status"], unique=False)

    op.create_table(
        "pages",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("datasource_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("content_length", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("etag", sa.String(length=512), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_job_id", sa.Uuid(), nullable=True),
        sa.Column("visit_state", sa.String(length=8), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datasource_id"],
            ["datasources.id"],
            name=op.f("fk_pages_datasource_id_datasources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_pages_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
    )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pages_datasource_created", ["datasource_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_pages_org", ["org_id"], unique=False)
        batch_op.create_index("ix_pages_visit", ["visit_job_id", "visit_state"], unique=False)
        batch_op.create_index("uq_pages_datasource_url", ["datasource_id", "url"], unique=True)

    op.create_table(
        "chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("datasource_id", sa.Uuid(), nullable=False),
        sa.Column("page_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("chunk_key", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("heading_path", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("has_embedding", sa.Boolean(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datasource_id"],
            ["datasources.id"],
            name=op.f("fk_chunks_datasource_id_datasources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_chunks_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["pages.id"], name=op.f("fk_chunks_page_id_pages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunks")),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chunks_org_pending_embedding", ["org_id", "has_embedding"], unique=False
        )
        batch_op.create_index("ix_chunks_page", ["page_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_page")
        batch_op.drop_index("ix_chunks_org_pending_embedding")

    op.drop_table("chunks")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_index("uq_pages_datasource_url")
        batch_op.drop_index("ix_pages_visit")
        batch_op.drop_index("ix_pages_org")
        batch_op.drop_index("ix_pages_datasource_created")

    op.drop_table("pages")
    with op.batch_alter_table("crawl_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_crawl_jobs_status")
        batch_op.drop_index("ix_crawl_jobs_datasource_created")

    op.drop_table("crawl_jobs")
    with op.batch_alter_table("knowledge_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_changes_org_seq")

    op.drop_table("knowledge_changes")
    with op.batch_alter_table("datasources", schema=None) as batch_op:
        batch_op.drop_index("uq_datasources_org_url")
        batch_op.drop_index("ix_datasources_org_created")
        batch_op.drop_index("ix_datasources_next_crawl")

    op.drop_table("datasources")
