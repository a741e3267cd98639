"""widget

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "widget_sessions",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("widget_sessions", "session_id", "chat_sessions"),
        _fk("widget_sessions", "org_id", "orgs"),
        _fk("widget_sessions", "contact_id", "contacts"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_widget_sessions")),
    )
    op.create_index(
        "ix_widget_sessions_org_contact_created",
        "widget_sessions",
        ["org_id", "contact_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "widget_messages",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("client_uuid", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("action_params", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("widget_messages", "org_id", "orgs"),
        _fk("widget_messages", "session_id", "chat_sessions"),
        _fk("widget_messages", "event_id", "chat_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_messages")),
    )
    op.create_index(
        "uq_widget_messages_session_client_uuid",
        "widget_messages",
        ["session_id", "client_uuid"],
        unique=True,
    )
    op.create_table(
        "widget_votes",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("widget_votes", "event_id", "chat_events"),
        _fk("widget_votes", "org_id", "orgs"),
        _fk("widget_votes", "session_id", "chat_sessions"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_widget_votes")),
    )
    op.create_table(
        "widget_csat",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("widget_csat", "session_id", "chat_sessions"),
        _fk("widget_csat", "org_id", "orgs"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_widget_csat")),
    )
    op.create_table(
        "widget_uploads",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("file", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("widget_uploads", "org_id", "orgs"),
        _fk("widget_uploads", "contact_id", "contacts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_uploads")),
    )
    op.create_index(
        "ix_widget_uploads_org_contact", "widget_uploads", ["org_id", "contact_id"], unique=False
    )
    op.create_table(
        "widget_contact_settings",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("chat_context", sa.Text(), nullable=True),
        sa.Column("http_action_overrides", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("widget_contact_settings", "contact_id", "contacts"),
        _fk("widget_contact_settings", "org_id", "orgs"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_widget_contact_settings")),
    )


def downgrade() -> None:
    op.drop_table("widget_contact_settings")
    op.drop_index("ix_widget_uploads_org_contact", table_name="widget_uploads")
    op.drop_table("widget_uploads")
    op.drop_table("widget_csat")
    op.drop_table("widget_votes")
    op.drop_index("uq_widget_messages_session_client_uuid", table_name="widget_messages")
    op.drop_table("widget_messages")
    op.drop_index("ix_widget_sessions_org_contact_created", table_name="widget_sessions")
    op.drop_table("widget_sessions")
