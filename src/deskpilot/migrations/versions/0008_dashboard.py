"""dashboard read marks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_read_marks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("seen_seq", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_dashboard_read_marks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name=op.f("fk_dashboard_read_marks_session_id_chat_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_dashboard_read_marks_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "session_id", name=op.f("pk_dashboard_read_marks")),
    )
    op.create_index(
        "ix_dashboard_read_marks_session", "dashboard_read_marks", ["session_id"], unique=False
    )
    op.create_index("ix_dashboard_read_marks_org", "dashboard_read_marks", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dashboard_read_marks_org", table_name="dashboard_read_marks")
    op.drop_index("ix_dashboard_read_marks_session", table_name="dashboard_read_marks")
    op.drop_table("dashboard_read_marks")
