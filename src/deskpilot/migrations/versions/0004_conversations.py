"""conversations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_ticket_counters",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_chat_ticket_counters_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_chat_ticket_counters")),
    )
    op.create_table(
        "chat_sessions",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("ai_closure_type", sa.String(length=24), nullable=True),
        sa.Column("sentiment", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("assist_mode", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("custom_data", sa.JSON(), nullable=False),
        sa.Column("handoff_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handoff_reasons", sa.JSON(), nullable=True),
        sa.Column("handoff_explanation", sa.Text(), nullable=True),
        sa.Column("handoff_summary", sa.Text(), nullable=True),
        sa.Column("handoff_sentiment", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_sender", sa.String(length=16), nullable=True),
        sa.Column("ai_replies", sa.Integer(), nullable=False),
        sa.Column("ai_unproductive_replies", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("close_request", sa.JSON(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_chat_sessions_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_chat_sessions_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
    )
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_chat_sessions_contact", ["contact_id"], unique=False)
        batch_op.create_index(
            "ix_chat_sessions_org_assignee", ["org_id", "assignee_id"], unique=False
        )
        batch_op.create_index("ix_chat_sessions_org_channel", ["org_id", "channel"], unique=False)
        batch_op.create_index(
            "ix_chat_sessions_org_created", ["org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_chat_sessions_org_handoff", ["org_id", "handoff_at"], unique=False
        )
        batch_op.create_index(
            "ix_chat_sessions_org_last_message", ["org_id", "last_message_at", "id"], unique=False
        )
        batch_op.create_index("ix_chat_sessions_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index(
            "ix_chat_sessions_org_updated", ["org_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_chat_sessions_status_last_message", ["status", "last_message_at"], unique=False
        )
        batch_op.create_index(
            "uq_chat_sessions_org_ticket_number", ["org_id", "ticket_number"], unique=True
        )

    op.create_table(
        "chat_events",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("sender_type", sa.String(length=16), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=True),
        sa.Column("debug", sa.JSON(), nullable=True),
        sa.Column("redacted", sa.Boolean(), nullable=False),
        sa.Column("reply_state", sa.String(length=16), nullable=True),
        sa.Column("reply_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_chat_events_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_events_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_events")),
    )
    with op.batch_alter_table("chat_events", schema=None) as batch_op:
        batch_op.create_index("ix_chat_events_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_chat_events_reply_state",
            ["reply_state", "reply_claimed_at"],
            unique=False,
            sqlite_where=sa.text("reply_state IN ('pending', 'claimed')"),
            postgresql_where=sa.text("reply_state IN ('pending', 'claimed')"),
        )
        batch_op.create_index("uq_chat_events_session_seq", ["session_id", "seq"], unique=True)

    op.create_table(
        "chat_session_tags",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_chat_session_tags_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["tags.id"],
            name=op.f("fk_chat_session_tags_tag_id_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "tag_id", name=op.f("pk_chat_session_tags")),
    )
    with op.batch_alter_table("chat_session_tags", schema=None) as batch_op:
        batch_op.create_index("ix_chat_session_tags_tag", ["tag_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_session_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_session_tags_tag")

    op.drop_table("chat_session_tags")
    with op.batch_alter_table("chat_events", schema=None) as batch_op:
        batch_op.drop_index("uq_chat_events_session_seq")
        batch_op.drop_index(
            "ix_chat_events_reply_state",
            sqlite_where=sa.text("reply_state IN ('pending', 'claimed')"),
            postgresql_where=sa.text("reply_state IN ('pending', 'claimed')"),
        )
        batch_op.drop_index("ix_chat_events_org_created")

    op.drop_table("chat_events")
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.drop_index("uq_chat_sessions_org_ticket_number")
        batch_op.drop_index("ix_chat_sessions_status_last_message")
        batch_op.drop_index("ix_chat_sessions_org_updated")
        batch_op.drop_index("ix_chat_sessions_org_status")
        batch_op.drop_index("ix_chat_sessions_org_last_message")
        batch_op.drop_index("ix_chat_sessions_org_handoff")
        batch_op.drop_index("ix_chat_sessions_org_created")
        batch_op.drop_index("ix_chat_sessions_org_channel")
        batch_op.drop_index("ix_chat_sessions_org_assignee")
        batch_op.drop_index("ix_chat_sessions_contact")

    op.drop_table("chat_sessions")
    op.drop_table("chat_ticket_counters")
