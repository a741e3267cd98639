"""Dashboard users, their org memberships, and the single-use links and browser sessions
that sign them in: into one org's dashboard, or into their partner's console."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.models.base import Base, UTCDateTime, UUIDPk, utcnow


class User(Base):
    __tablename__ = "users"

    # Dashboard users have integer ids, as OpenCX's human agents do.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgMembership(Base):
    __tablename__ = "org_memberships"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="admin")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SingleUseLink(UUIDPk):
    """The columns every sign-in link has: who it is for, its hashed token, its life."""

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BrowserSession(UUIDPk):
    """The columns every browser session has: whose it is, its hashed cookie, its life."""

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginLink(SingleUseLink, Base):
    __tablename__ = "login_links"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), index=True
    )
    redirect_path: Mapped[str] = mapped_column(String(512), default="/")
    # The role the user is given in the org when the link is opened; null = the org's rule
    # (its first member is the admin, later ones agents). The partner console sets `admin`.
    role: Mapped[str | None] = mapped_column(String(16))


class DashboardSession(BrowserSession, Base):
    __tablename__ = "dashboard_sessions"

    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), index=True
    )


class PartnerConsoleLink(SingleUseLink, Base):
    """A partner admin's sign-in link to the partner console (no org)."""

    __tablename__ = "partner_console_links"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )


class PartnerConsoleSession(BrowserSession, Base):
    """A partner admin's console session: opens the console pages, never an org's."""

    __tablename__ = "partner_console_sessions"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
