"""partner console links and sessions; the role a login link grants

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))

    op.create_table(
        "partner_console_links",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_console_links_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_console_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_partner_console_links_token_hash")),
    )
    op.create_index(
        op.f("ix_partner_console_links_partner_id"),
        "partner_console_links",
        ["partner_id"],
        unique=False,
    )

    op.create_table(
        "partner_console_sessions",
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_console_sessions_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_partner_console_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_partner_console_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_partner_console_sessions_partner_id"),
        "partner_console_sessions",
        ["partner_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_partner_console_sessions_user_id"),
        "partner_console_sessions",
        ["user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_partner_console_sessions_user_id"), table_name="partner_console_sessions"
    )
    op.drop_index(
        op.f("ix_partner_console_sessions_partner_id"), table_name="partner_console_sessions"
    )
    op.drop_table("partner_console_sessions")
    op.drop_index(op.f("ix_partner_console_links_partner_id"), table_name="partner_console_links")
    op.drop_table("partner_console_links")
    with op.batch_alter_table("login_links", schema=None) as batch_op:
        batch_op.drop_column("role")
