"""Login links (single-use, short-lived) and the dashboard browser sessions they open."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import credentials
from deskpilot.errors import Gone
from deskpilot.models import DashboardSession, LoginLink, Org, OrgMembership, User, utcnow
from deskpilot.org.service import find_live_org

LINK_UNUSABLE = "This sign-in link has already been used, has expired or is not valid"


@dataclass(frozen=True, slots=True)
class IssuedLink:
    token: str
    link: LoginLink


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


async def create_login_link(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str,
    name: str | None,
    redirect_path: str,
    ttl: timedelta,
) -> IssuedLink:
    token = credentials.new_url_token()
    link = LoginLink(
        org_id=org_id,
        email=email.strip().lower(),
        name=name,
        redirect_path=redirect_path,
        token_hash=credentials.hash_secret(token),
        expires_at=utcnow() + ttl,
    )
    session.add(link)
    await session.flush()
    return IssuedLink(token, link)


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


async def _ensure_member(session: AsyncSession, *, org_id: uuid.UUID, user_id: int) -> str:
    """The org's first member is its admin; everyone who joins after is an agent."""
    membership = await session.get(OrgMembership, (org_id, user_id))
    if membership is not None:
        return membership.role
    has_members = await session.scalar(
        sa.select(OrgMembership.user_id).where(OrgMembership.org_id == org_id).limit(1)
    )
    role = "agent" if has_members is not None else "admin"
    try:
        async with session.begin_nested():
            session.add(OrgMembership(org_id=org_id, user_id=user_id, role=role))
    except IntegrityError:
        # Joined concurrently: the row exists, with the role that request gave it.
        membership = await session.get(OrgMembership, (org_id, user_id), populate_existing=True)
        return membership.role if membership is not None else role
    return role


async def consume_login_link(
    session: AsyncSession, *, token: str, session_ttl: timedelta
) -> OpenedSession:
    """Atomically mark the link used; only the request whose UPDATE matched gets a session."""
    now = utcnow()
    row = (
        await session.execute(
            sa.update(LoginLink)
            .where(
                LoginLink.token_hash == credentials.hash_secret(token),
                LoginLink.used_at.is_(None),
                LoginLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(LoginLink.org_id, LoginLink.email, LoginLink.name, LoginLink.redirect_path)
        )
    ).first()
    if row is None:
        raise Gone(LINK_UNUSABLE)
    org_id, email, name, redirect_path = row
    if await find_live_org(session, org_id=org_id) is None:
        raise Gone(LINK_UNUSABLE)
    user = await _user_for(session, email=email, name=name)
    await _ensure_member(session, org_id=org_id, user_id=user.id)
    browser_token = credentials.new_url_token()
    dashboard_session = DashboardSession(
        token_hash=credentials.hash_secret(browser_token),
        user_id=user.id,
        org_id=org_id,
        expires_at=now + session_ttl,
    )
    session.add(dashboard_session)
    await session.flush()
    return OpenedSession(browser_token, dashboard_session, user, redirect_path)


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


async def end_session(session: AsyncSession, *, dashboard_session: DashboardSession) -> None:
    dashboard_session.revoked_at = utcnow()
    await session.flush()


def csrf_token(secret_key: str, dashboard_session: DashboardSession) -> str:
    """Bound to the browser session: a form from another session or site cannot pass."""
    return hmac.new(
        secret_key.encode(), f"csrf:{dashboard_session.token_hash}".encode(), sha256
    ).hexdigest()


def csrf_valid(secret_key: str, dashboard_session: DashboardSession, submitted: str) -> bool:
    return hmac.compare_digest(csrf_token(secret_key, dashboard_session), submitted)
