"""Single-use sign-in links and the browser sessions they open: a login link signs a user
into one org's dashboard, a console link signs a partner's admin into the partner console.

Both kinds share one life cycle (a 256-bit token stored hashed, consumed by one atomic
UPDATE, a session cookie stored hashed) and live in separate tables, so a session of one
kind can never pass for the other.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import credentials
from deskpilot.errors import Gone
from deskpilot.models import (
    DashboardSession,
    LoginLink,
    Org,
    OrgMembership,
    Partner,
    PartnerConsoleLink,
    PartnerConsoleSession,
    User,
    utcnow,
)
from deskpilot.models.user import BrowserSession, SingleUseLink
from deskpilot.org.service import find_live_org

LINK_UNUSABLE = "This sign-in link has already been used, has expired or is not valid"

LinkT = TypeVar("LinkT", bound=SingleUseLink)


@dataclass(frozen=True, slots=True)
class IssuedLink(Generic[LinkT]):
    token: str
    link: LinkT


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str
    session: DashboardSession
    user: User
    redirect_path: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: DashboardSession
    user: User
    org: Org
    role: str


@dataclass(frozen=True, slots=True)
class OpenedConsole:
    token: str
    session: PartnerConsoleSession
    user: User
    partner: Partner


@dataclass(frozen=True, slots=True)
class ConsoleSignedIn:
    session: PartnerConsoleSession
    user: User
    partner: Partner


# --- the shared life cycle ----------------------------------------------------------------


async def _issue(
    session: AsyncSession, link: LinkT, *, email: str, name: str | None, ttl: timedelta
) -> IssuedLink[LinkT]:
    token = credentials.new_url_token()
    link.email = email.strip().lower()
    link.name = name
    link.token_hash = credentials.hash_secret(token)
    link.expires_at = utcnow() + ttl
    session.add(link)
    await session.flush()
    return IssuedLink(token, link)


async def _claim(session: AsyncSession, link_type: type[LinkT], token: str) -> LinkT:
    """Atomically mark the link used; only the request whose UPDATE matched gets it."""
    now = utcnow()
    link = (
        await session.scalars(
            sa.update(link_type)
            .where(
                link_type.token_hash == credentials.hash_secret(token),
                link_type.used_at.is_(None),
                link_type.expires_at > now,
            )
            .values(used_at=now)
            .returning(link_type)
        )
    ).first()
    if link is None:
        raise Gone(LINK_UNUSABLE)
    return link


async def _start_browser_session(
    session: AsyncSession, browser_session: BrowserSession, *, user_id: int, ttl: timedelta
) -> str:
    """Fill in and store the session; returns the cookie value (only its hash is kept)."""
    token = credentials.new_url_token()
    browser_session.token_hash = credentials.hash_secret(token)
    browser_session.user_id = user_id
    browser_session.expires_at = utcnow() + ttl
    session.add(browser_session)
    await session.flush()
    return token


async def _user_for(session: AsyncSession, *, email: str, name: str | None) -> User:
    stmt = sa.select(User).where(User.email == email)
    user = (await session.scalars(stmt)).first()
    if user is not None:
        return user
    try:
        async with session.begin_nested():
            user = User(email=email, name=name or email.split("@", 1)[0][:100])
            session.add(user)
    except IntegrityError:  # created concurrently by another link
        user = (await session.scalars(stmt)).one()
    return user


async def end_session(session: AsyncSession, *, dashboard_session: BrowserSession) -> None:
    dashboard_session.revoked_at = utcnow()
    await session.flush()


def csrf_token(secret_key: str, dashboard_session: BrowserSession) -> str:
    """Bound to the browser session: a form from another session or site cannot pass."""
    return hmac.new(
        secret_key.encode(), f"csrf:{dashboard_session.token_hash}".encode(), sha256
    ).hexdigest()


def csrf_valid(secret_key: str, dashboard_session: BrowserSession, submitted: str) -> bool:
    return hmac.compare_digest(csrf_token(secret_key, dashboard_session), submitted)


# --- org dashboard ------------------------------------------------------------------------


async def create_login_link(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str,
    name: str | None,
    redirect_path: str,
    ttl: timedelta,
    role: str | None = None,
) -> IssuedLink[LoginLink]:
    """`role` is what the user becomes in the org on opening it; None = the org's rule."""
    link = LoginLink(org_id=org_id, redirect_path=redirect_path, role=role)
    return await _issue(session, link, email=email, name=name, ttl=ttl)


async def _ensure_member(
    session: AsyncSession, *, org_id: uuid.UUID, user_id: int, role: str | None
) -> str:
    """Without a `role`, the org's first member is its admin and everyone who joins after is
    an agent; with one, the user has that role afterwards, new member or not."""
    membership = await session.get(OrgMembership, (org_id, user_id))
    if membership is None:
        granted = role
        if granted is None:
            has_members = await session.scalar(
                sa.select(OrgMembership.user_id).where(OrgMembership.org_id == org_id).limit(1)
            )
            granted = "agent" if has_members is not None else "admin"
        try:
            async with session.begin_nested():
                session.add(OrgMembership(org_id=org_id, user_id=user_id, role=granted))
            return granted
        except IntegrityError:
            # Joined concurrently: the row exists, with the role that request gave it.
            membership = await session.get(OrgMembership, (org_id, user_id), populate_existing=True)
            if membership is None:
                return granted
    if role is not None and membership.role != role:
        membership.role = role
        await session.flush()
    return membership.role


async def consume_login_link(
    session: AsyncSession, *, token: str, session_ttl: timedelta
) -> OpenedSession:
    link = await _claim(session, LoginLink, token)
    if await find_live_org(session, org_id=link.org_id) is None:
        raise Gone(LINK_UNUSABLE)
    user = await _user_for(session, email=link.email, name=link.name)
    await _ensure_member(session, org_id=link.org_id, user_id=user.id, role=link.role)
    dashboard_session = DashboardSession(org_id=link.org_id)
    browser_token = await _start_browser_session(
        session, dashboard_session, user_id=user.id, ttl=session_ttl
    )
    return OpenedSession(browser_token, dashboard_session, user, link.redirect_path)


async def find_signed_in(session: AsyncSession, *, token: str) -> SignedIn | None:
    row = (
        await session.execute(
            sa.select(DashboardSession, User, Org, OrgMembership.role)
            .join(User, User.id == DashboardSession.user_id)
            .join(Org, Org.id == DashboardSession.org_id)
            .join(
                OrgMembership,
                sa.and_(
                    OrgMembership.org_id == DashboardSession.org_id,
                    OrgMembership.user_id == DashboardSession.user_id,
                ),
            )
            .where(
                DashboardSession.token_hash == credentials.hash_secret(token),
                DashboardSession.revoked_at.is_(None),
                DashboardSession.expires_at > utcnow(),
                Org.deleted_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    dashboard_session, user, org, role = row
    return SignedIn(dashboard_session, user, org, role)


# --- partner console ----------------------------------------------------------------------


async def create_console_link(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    email: str,
    name: str | None,
    ttl: timedelta,
) -> IssuedLink[PartnerConsoleLink]:
    link = PartnerConsoleLink(partner_id=partner_id)
    return await _issue(session, link, email=email, name=name, ttl=ttl)


async def consume_console_link(
    session: AsyncSession, *, token: str, session_ttl: timedelta
) -> OpenedConsole:
    """The partner must still be active; the user is created if new, and joins no org."""
    link = await _claim(session, PartnerConsoleLink, token)
    partner = await session.get(Partner, link.partner_id)
    if partner is None or not partner.is_active:
        raise Gone(LINK_UNUSABLE)
    user = await _user_for(session, email=link.email, name=link.name)
    console_session = PartnerConsoleSession(partner_id=partner.id)
    browser_token = await _start_browser_session(
        session, console_session, user_id=user.id, ttl=session_ttl
    )
    return OpenedConsole(browser_token, console_session, user, partner)


async def find_console_signed_in(session: AsyncSession, *, token: str) -> ConsoleSignedIn | None:
    row = (
        await session.execute(
            sa.select(PartnerConsoleSession, User, Partner)
            .join(User, User.id == PartnerConsoleSession.user_id)
            .join(Partner, Partner.id == PartnerConsoleSession.partner_id)
            .where(
                PartnerConsoleSession.token_hash == credentials.hash_secret(token),
                PartnerConsoleSession.revoked_at.is_(None),
                PartnerConsoleSession.expires_at > utcnow(),
                Partner.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    console_session, user, partner = row
    return ConsoleSignedIn(console_session, user, partner)
