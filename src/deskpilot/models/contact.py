"""Contacts: the people who write in, with verified data (from the org's servers) kept
apart from what a visitor merely claims about themselves."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, Timestamps, UUIDPk


class Contact(UUIDPk, Timestamps, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # NULLs are distinct in unique indexes on both databases: contacts without an
        # email (or phone) never clash.
        Index("uq_contacts_org_email_key", "org_id", "email_key", unique=True),
        Index("uq_contacts_org_phone_number", "org_id", "phone_number", unique=True),
        Index("ix_contacts_org_created", "org_id", "created_at", "id"),
        Index("ix_contacts_org_non_verified_email_key", "org_id", "non_verified_email_key"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orgs.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))
    # Lower-cased in Python: emails match case-insensitively, and SQLite's lower() only
    # folds ASCII.
    email_key: Mapped[str | None] = mapped_column(String(254))
    phone_number: Mapped[str | None] = mapped_column(String(16))  # E.164
    name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[str | None] = mapped_column(String(8))
    custom_data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    non_verified_name: Mapped[str | None] = mapped_column(String(200))
    non_verified_email: Mapped[str | None] = mapped_column(String(254))
    non_verified_email_key: Mapped[str | None] = mapped_column(String(254))
    non_verified_phone_number: Mapped[str | None] = mapped_column(String(16))
    non_verified_custom_data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
