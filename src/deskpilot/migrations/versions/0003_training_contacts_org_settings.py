"""training, contacts, org settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autopilot_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("channel_modes", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_autopilot_settings_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_autopilot_settings")),
    )
    op.create_table(
        "contacts",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("email_key", sa.String(length=254), nullable=True),
        sa.Column("phone_number", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("avatar_url", sa.String(length=2048), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("custom_data", sa.JSON(), nullable=False),
        sa.Column("non_verified_name", sa.String(length=200), nullable=True),
        sa.Column("non_verified_email", sa.String(length=254), nullable=True),
        sa.Column("non_verified_email_key", sa.String(length=254), nullable=True),
        sa.Column("non_verified_phone_number", sa.String(length=16), nullable=True),
        sa.Column("non_verified_custom_data", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_contacts_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_org_created", ["org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_org_non_verified_email_key",
            ["org_id", "non_verified_email_key"],
            unique=False,
        )
        batch_op.create_index("uq_contacts_org_email_key", ["org_id", "email_key"], unique=True)
        batch_op.create_index(
            "uq_contacts_org_phone_number", ["org_id", "phone_number"], unique=True
        )

    op.create_table(
        "office_hours_schedules",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("iana_timezone", sa.String(length=64), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_office_hours_schedules_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours_schedules")),
    )
    with op.batch_alter_table("office_hours_schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_office_hours_schedules_org_created", ["org_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_office_hours_schedules_org_default",
            ["org_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "tags",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("tag_name", sa.String(length=50), nullable=False),
        sa.Column("name_key", sa.String(length=50), nullable=False),
        sa.Column("description", sa.String(length=160), nullable=True),
        sa.Column("exclude_from_auto_tagging", sa.Boolean(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_tags_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("uq_tags_org_name_key", ["org_id", "name_key"], unique=True)

    op.create_table(
        "training_directories",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_training_directories_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["training_directories.id"],
            name=op.f("fk_training_directories_parent_id_training_directories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_directories")),
    )
    with op.batch_alter_table("training_directories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_training_directories_org_parent", ["org_id", "parent_id"], unique=False
        )

    op.create_table(
        "handoff_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("preset_level", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("on_frustration", sa.Boolean(), nullable=False),
        sa.Column("on_unproductive_conversation", sa.Boolean(), nullable=False),
        sa.Column("unproductive_after_turns", sa.Integer(), nullable=False),
        sa.Column("on_human_request", sa.Boolean(), nullable=False),
        sa.Column("require_problem_description", sa.Boolean(), nullable=False),
        sa.Column("collect_fields", sa.JSON(), nullable=False),
        sa.Column("outside_office_hours", sa.String(length=16), nullable=False),
        sa.Column("office_hours_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_hours_id"],
            ["office_hours_schedules.id"],
            name=op.f("fk_handoff_settings_office_hours_id_office_hours_schedules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_handoff_settings_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_handoff_settings")),
    )
    op.create_table(
        "office_hours_shifts",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("day_of_week", sa.String(length=24), nullable=False),
        sa.Column("start_seconds", sa.Integer(), nullable=False),
        sa.Column("end_seconds", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_office_hours_shifts_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["office_hours_schedules.id"],
            name=op.f("fk_office_hours_shifts_schedule_id_office_hours_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours_shifts")),
    )
    with op.batch_alter_table("office_hours_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_office_hours_shifts_schedule", ["schedule_id", "position"], unique=False
        )

    op.create_table(
        "training_items",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("draft_title", sa.String(length=200), nullable=True),
        sa.Column("draft_content", sa.Text(), nullable=True),
        sa.Column("is_draft", sa.Boolean(), nullable=False),
        sa.Column("directory_id", sa.Uuid(), nullable=True),
        sa.Column("restricted_to_channels", sa.JSON(), nullable=False),
        sa.Column("channel_mask", sa.Integer(), nullable=False),
        sa.Column("restricted_to_segments", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["directory_id"],
            ["training_directories.id"],
            name=op.f("fk_training_items_directory_id_training_directories"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_training_items_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_items")),
    )
    with op.batch_alter_table("training_items", schema=None) as batch_op:
        batch_op.create_index("ix_training_items_directory", ["directory_id"], unique=False)
        batch_op.create_index(
            "ix_training_items_org_created", ["org_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_training_items_org_live", ["org_id", "is_draft"], unique=False)

    op.create_table(
        "training_versions",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("training_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name=op.f("fk_training_versions_org_id_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["training_items.id"],
            name=op.f("fk_training_versions_training_id_training_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_versions")),
    )
    with op.batch_alter_table("training_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_training_versions_item_version", ["training_id", "version"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("training_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_training_versions_item_version")

    op.drop_table("training_versions")
    with op.batch_alter_table("training_items", schema=None) as batch_op:
        batch_op.drop_index("ix_training_items_org_live")
        batch_op.drop_index("ix_training_items_org_created")
        batch_op.drop_index("ix_training_items_directory")

    op.drop_table("training_items")
    with op.batch_alter_table("office_hours_shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_office_hours_shifts_schedule")

    op.drop_table("office_hours_shifts")
    op.drop_table("handoff_settings")
    with op.batch_alter_table("training_directories", schema=None) as batch_op:
        batch_op.drop_index("ix_training_directories_org_parent")

    op.drop_table("training_directories")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("uq_tags_org_name_key")

    op.drop_table("tags")
    with op.batch_alter_table("office_hours_schedules", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_office_hours_schedules_org_default",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )
        batch_op.drop_index("ix_office_hours_schedules_org_created")

    op.drop_table("office_hours_schedules")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("uq_contacts_org_phone_number")
        batch_op.drop_index("uq_contacts_org_email_key")
        batch_op.drop_index("ix_contacts_org_non_verified_email_key")
        batch_op.drop_index("ix_contacts_org_created")

    op.drop_table("contacts")
    op.drop_table("autopilot_settings")
