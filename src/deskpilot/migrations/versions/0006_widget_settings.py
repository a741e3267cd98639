"""widget settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "widget_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("initial_questions", sa.JSON(), nullable=False),
        sa.Column("initial_messages", sa.JSON(), nullable=False),
        sa.Column("bot_name", sa.String(length=60), nullable=True),
        sa.Column("bot_avatar_url", sa.String(length=2048), nullable=True),
        sa.Column("primary_color", sa.String(length=7), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_widget_settings_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_widget_settings")),
    )


def downgrade() -> None:
    op.drop_table("widget_settings")
