"""Orgs: created and managed by their partner; their API keys; their health."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import credentials
from deskpilot.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthorized
from deskpilot.models import (
    ChatSession,
    DashboardSession,
    Org,
    OrgApiKey,
    OrgMembership,
    Page,
    utcnow,
)
from deskpilot.models.training import TrainingItem
from deskpilot.pagination import apply_cursor, contains_pattern, page_of
from deskpilot.partner.schemas import OrgCreate, OrgHealth, OrgUpdate
from deskpilot.tenancy import org_scoped

MAX_ACTIVE_KEYS = 25
REVOKED_KEYS_LISTED_FOR = timedelta(days=30)
SESSIONS_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class OrgActivity:
    users: int
    sessions_30d: int
    synced_pages: int
    published_training: int


def org_health(org: Org, activity: OrgActivity, *, now: datetime) -> OrgHealth:
    """The partner admin-console badge; first match wins (API.md 2.3)."""
    if now - org.created_at < timedelta(days=7) and activity.sessions_30d == 0:
        return "new"
    if activity.synced_pages == 0 and activity.published_training == 0:
        return "setup_incomplete"
    if activity.sessions_30d == 0:
        return "inactive"
    return "healthy"


async def _count_by_org(
    session: AsyncSession, org_ids: list[uuid.UUID], column: Any, *conditions: Any
) -> dict[uuid.UUID, int]:
    counts: dict[uuid.UUID, int] = dict.fromkeys(org_ids, 0)
    if org_ids:
        rows = await session.execute(
            sa.select(column, sa.func.count())
            .where(column.in_(org_ids), *conditions)
            .group_by(column)
        )
        counts.update({org_id: count for org_id, count in rows.tuples()})
    return counts


async def org_activity(
    session: AsyncSession, *, org_ids: list[uuid.UUID]
) -> dict[uuid.UUID, OrgActivity]:
    """Counts per org, one grouped query per table; `sessions_30d` counts the chat
    sessions started in the last 30 days."""
    users = await _count_by_org(session, org_ids, OrgMembership.org_id)
    sessions = await _count_by_org(
        session,
        org_ids,
        ChatSession.org_id,
        ChatSession.created_at >= utcnow() - SESSIONS_WINDOW,
    )
    pages = await _count_by_org(session, org_ids, Page.org_id, Page.status == "synced")
    training = await _count_by_org(
        session,
        org_ids,
        TrainingItem.org_id,
        TrainingItem.is_draft.is_(False),
        TrainingItem.current_version.is_not(None),
    )
    return {
        org_id: OrgActivity(
            users=users[org_id],
            sessions_30d=sessions[org_id],
            synced_pages=pages[org_id],
            published_training=training[org_id],
        )
        for org_id in org_ids
    }


def _live_orgs() -> sa.Select[tuple[Org]]:
    return sa.select(Org).where(Org.deleted_at.is_(None))


async def _external_id_taken(
    session: AsyncSession, *, partner_id: uuid.UUID, external_id: str, except_id: uuid.UUID | None
) -> bool:
    stmt = _live_orgs().where(Org.partner_id == partner_id, Org.external_id == external_id)
    if except_id is not None:
        stmt = stmt.where(Org.id != except_id)
    return (await session.scalars(stmt.limit(1))).first() is not None


async def _flush_or_conflict(session: AsyncSession, external_id: str | None) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"An org with external_id '{external_id}' already exists") from exc


async def create_org(session: AsyncSession, *, partner_id: uuid.UUID, data: OrgCreate) -> Org:
    if data.integrations:
        names = ", ".join(sorted(data.integrations))
        raise InvalidInput(f"integrations: no connector is installed for {names}")
    if data.external_id is not None and await _external_id_taken(
        session, partner_id=partner_id, external_id=data.external_id, except_id=None
    ):
        raise Conflict(f"An org with external_id '{data.external_id}' already exists")
    org = Org(
        partner_id=partner_id,
        name=data.name,
        external_id=data.external_id,
        website=data.website_text,
        language=data.language,
        ai_instructions=data.ai_instructions,
        widget_token=credentials.new_widget_token(),
    )
    session.add(org)
    await _flush_or_conflict(session, data.external_id)
    return org


async def find_live_org(session: AsyncSession, *, org_id: uuid.UUID) -> Org | None:
    return (await session.scalars(_live_orgs().where(Org.id == org_id))).first()


async def get_partner_org(
    session: AsyncSession, *, partner_id: uuid.UUID, org_id: uuid.UUID
) -> Org:
    """Layer 5 of API.md 2.1: 404 for an unknown or deleted org, 403 for another partner's."""
    org = await find_live_org(session, org_id=org_id)
    if org is None:
        raise NotFound("Org not found")
    if org.partner_id != partner_id:
        raise PermissionDenied("This org belongs to another partner")
    return org


async def list_partner_orgs(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    external_id: str | None = None,
    name_contains: str | None = None,
) -> tuple[list[Org], str | None]:
    stmt = _live_orgs().where(Org.partner_id == partner_id)
    if external_id is not None:
        stmt = stmt.where(Org.external_id == external_id)
    if name_contains:
        stmt = stmt.where(
            sa.func.lower(Org.name).like(contains_pattern(name_contains), escape="\\")
        )
    stmt = apply_cursor(stmt, created_col=Org.created_at, id_col=Org.id, cursor=cursor, limit=limit)
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda org: (org.created_at, org.id))


async def update_org(session: AsyncSession, *, org: Org, changes: OrgUpdate) -> Org:
    fields = changes.model_fields_set
    for required in ("name", "language"):
        if required in fields and getattr(changes, required) is None:
            raise InvalidInput(f"{required} cannot be null")
    if (
        "external_id" in fields
        and changes.external_id is not None
        and org.partner_id is not None
        and await _external_id_taken(
            session, partner_id=org.partner_id, external_id=changes.external_id, except_id=org.id
        )
    ):
        raise Conflict(f"An org with external_id '{changes.external_id}' already exists")
    if "name" in fields and changes.name is not None:
        org.name = changes.name
    if "language" in fields and changes.language is not None:
        org.language = changes.language
    if "external_id" in fields:
        org.external_id = changes.external_id
    if "website" in fields:
        org.website = changes.website_text
    if "ai_instructions" in fields:
        org.ai_instructions = changes.ai_instructions
    org.updated_at = utcnow()
    await _flush_or_conflict(session, changes.external_id)
    return org


async def delete_org(session: AsyncSession, *, org: Org) -> None:
    """Soft delete: the org, its keys, sessions and open login links stop working at once."""
    now = utcnow()
    org.deleted_at = now
    org.updated_at = now
    await session.execute(
        sa.update(OrgApiKey)
        .where(OrgApiKey.org_id == org.id, OrgApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        sa.update(DashboardSession)
        .where(DashboardSession.org_id == org.id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.flush()


async def orgs_to_purge(
    session: AsyncSession, *, deleted_before: datetime, limit: int = 20
) -> list[uuid.UUID]:
    """Orgs soft-deleted before `deleted_before`: their retention is over."""
    return list(
        await session.scalars(
            sa.select(Org.id)
            .where(Org.deleted_at.is_not(None), Org.deleted_at < deleted_before)
            .order_by(Org.deleted_at)
            .limit(limit)
        )
    )


async def purge_orgs(session: AsyncSession, *, org_ids: list[uuid.UUID]) -> None:
    """Delete deleted orgs for good with every row they own (the foreign keys cascade)."""
    await session.execute(
        sa.delete(Org)
        .where(Org.id.in_(org_ids), Org.deleted_at.is_not(None))
        .execution_options(synchronize_session=False)
    )


# --- org API keys -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: OrgApiKey
    secret: str


async def create_org_key(
    session: AsyncSession, *, org_id: uuid.UUID, name: str, created_by: str = "partner"
) -> CreatedKey:
    active = await session.scalar(
        sa.select(sa.func.count())
        .select_from(OrgApiKey)
        .where(OrgApiKey.org_id == org_id, OrgApiKey.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE_KEYS:
        raise Conflict(f"An org can have at most {MAX_ACTIVE_KEYS} active API keys")
    secret = credentials.new_org_key()
    key = OrgApiKey(
        org_id=org_id,
        name=name,
        prefix=credentials.display_prefix(secret),
        key_hash=credentials.hash_secret(secret),
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    return CreatedKey(key, secret)


async def list_org_keys(
    session: AsyncSession, *, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[OrgApiKey], str | None]:
    cutoff = utcnow() - REVOKED_KEYS_LISTED_FOR
    stmt = org_scoped(OrgApiKey, org_id).where(
        sa.or_(OrgApiKey.revoked_at.is_(None), OrgApiKey.revoked_at > cutoff)
    )
    stmt = apply_cursor(
        stmt, created_col=OrgApiKey.created_at, id_col=OrgApiKey.id, cursor=cursor, limit=limit
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda key: (key.created_at, key.id))


async def revoke_org_key(session: AsyncSession, *, org_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Idempotent: revoking a revoked key succeeds; another org's key is not found."""
    key = (
        await session.scalars(org_scoped(OrgApiKey, org_id).where(OrgApiKey.id == key_id))
    ).first()
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()


async def authenticate_org_key(session: AsyncSession, *, api_key: str) -> Org:
    if not credentials.looks_like(api_key, credentials.ORG_KEY_PREFIX):
        raise Unauthorized("Invalid API key")
    key_hash = credentials.hash_secret(api_key)
    row = (
        await session.execute(
            sa.select(OrgApiKey, Org)
            .join(Org, Org.id == OrgApiKey.org_id)
            .where(OrgApiKey.key_hash == key_hash)
        )
    ).first()
    if row is None or not credentials.matches(api_key, row[0].key_hash):
        raise Unauthorized("Invalid API key")
    key: OrgApiKey = row[0]
    org: Org = row[1]
    if key.revoked_at is not None or org.deleted_at is not None:
        raise Unauthorized("This API key has been revoked")
    credentials.note_use(key, utcnow())
    return org
