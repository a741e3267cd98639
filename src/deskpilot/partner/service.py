"""Partner accounts: created by the operator, authenticated by their key; their orgs as the
partner sees them (health badge and activity), for the Partner API and the partner console."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import credentials
from deskpilot.errors import InvalidInput, NotFound, Unauthorized
from deskpilot.models import Org, Partner, PartnerApiKey, utcnow
from deskpilot.org import service as org_service
from deskpilot.pagination import encode_cursor
from deskpilot.partner.schemas import (
    Branding,
    OrgHealth,
    OrgRead,
    OrgStats,
    PartnerRead,
    PartnerUpdate,
)


@dataclass(frozen=True, slots=True)
class PartnerWithKey:
    partner: Partner
    api_key: str


def normalise_allow_list(entries: Sequence[str]) -> list[str]:
    normalised = []
    for entry in entries:
        try:
            normalised.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidInput(f"'{entry}' is not an IP address or CIDR range") from exc
    return normalised


def to_read(partner: Partner) -> PartnerRead:
    return PartnerRead(
        id=partner.id,
        name=partner.name,
        active=partner.is_active,
        branding=branding_of(partner),
        default_ai_instructions=partner.default_ai_instructions,
        ip_allow_list=list(partner.ip_allow_list or []),
        created_at=partner.created_at,
        updated_at=partner.updated_at,
    )


def branding_of(partner: Partner) -> Branding:
    return Branding(
        logo_url=partner.logo_url,
        app_name=partner.app_name,
        support_email=partner.support_email,
        primary_color=partner.primary_color,
    )


async def _mint_key(session: AsyncSession, partner: Partner) -> str:
    secret = credentials.new_partner_key()
    session.add(
        PartnerApiKey(
            partner_id=partner.id,
            prefix=credentials.display_prefix(secret),
            key_hash=credentials.hash_secret(secret),
        )
    )
    await session.flush()
    return secret


async def create_partner(
    session: AsyncSession,
    *,
    name: str,
    branding: Branding | None = None,
    allow_list: Sequence[str] = (),
    default_ai_instructions: str | None = None,
) -> PartnerWithKey:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters")
    branding = branding or Branding()
    partner = Partner(
        name=name,
        is_active=True,
        logo_url=branding.logo_url,
        app_name=branding.app_name,
        support_email=branding.support_email,
        primary_color=branding.primary_color,
        default_ai_instructions=default_ai_instructions,
        ip_allow_list=normalise_allow_list(allow_list),
    )
    session.add(partner)
    await session.flush()
    return PartnerWithKey(partner, await _mint_key(session, partner))


async def list_partners(session: AsyncSession) -> list[Partner]:
    result = await session.scalars(sa.select(Partner).order_by(Partner.created_at))
    return list(result)


async def get_partner(session: AsyncSession, *, partner_id: uuid.UUID) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("Partner not found")
    return partner


async def update_partner(
    session: AsyncSession,
    *,
    partner: Partner,
    changes: PartnerUpdate,
) -> Partner:
    """Apply a PATCH body: omitted fields unchanged, null clears."""
    if "branding" in changes.model_fields_set and changes.branding is not None:
        branding = changes.branding
        for field in branding.model_fields_set:
            value = getattr(branding, field)
            setattr(partner, field, str(value) if value is not None else None)
    if "default_ai_instructions" in changes.model_fields_set:
        partner.default_ai_instructions = changes.default_ai_instructions
    partner.updated_at = utcnow()
    await session.flush()
    return partner


async def set_operator_fields(
    session: AsyncSession,
    *,
    partner: Partner,
    name: str | None = None,
    allow_list: Sequence[str] | None = None,
    is_active: bool | None = None,
) -> Partner:
    """Fields only the operator (CLI) may change."""
    if name is not None:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("name must be 1 to 200 characters")
        partner.name = name
    if allow_list is not None:
        partner.ip_allow_list = normalise_allow_list(allow_list)
    if is_active is not None:
        partner.is_active = is_active
    partner.updated_at = utcnow()
    await session.flush()
    return partner


async def rotate_partner_key(session: AsyncSession, *, partner: Partner) -> str:
    """Revoke every key of the partner and mint a new one."""
    await session.execute(
        sa.update(PartnerApiKey)
        .where(PartnerApiKey.partner_id == partner.id, PartnerApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return await _mint_key(session, partner)


async def authenticate_partner(session: AsyncSession, *, api_key: str) -> Partner:
    """Layers 1 and 2 of API.md 2.1: a known, unrevoked key of an active partner."""
    if not credentials.looks_like(api_key, credentials.PARTNER_KEY_PREFIX):
        raise Unauthorized("Invalid partner API key")
    key_hash = credentials.hash_secret(api_key)
    row = (
        await session.execute(
            sa.select(PartnerApiKey, Partner)
            .join(Partner, Partner.id == PartnerApiKey.partner_id)
            .where(PartnerApiKey.key_hash == key_hash)
        )
    ).first()
    if row is None or not credentials.matches(api_key, row[0].key_hash):
        raise Unauthorized("Invalid partner API key")
    key: PartnerApiKey = row[0]
    partner: Partner = row[1]
    if key.revoked_at is not None:
        raise Unauthorized("This partner API key has been revoked")
    if not partner.is_active:
        raise Unauthorized("This partner account is inactive")
    credentials.note_use(key, utcnow())
    return partner


# --- the partner's orgs -------------------------------------------------------------------


async def org_reads(session: AsyncSession, *, orgs: list[Org]) -> list[OrgRead]:
    """Each org with its health badge and activity counts (a fixed number of queries)."""
    activity = await org_service.org_activity(session, org_ids=[org.id for org in orgs])
    now = utcnow()
    return [
        OrgRead(
            id=org.id,
            name=org.name,
            external_id=org.external_id,
            website=org.website,
            language=org.language,
            ai_instructions=org.ai_instructions,
            widget_token=org.widget_token,
            health=org_service.org_health(org, activity[org.id], now=now),
            stats=OrgStats(
                users=activity[org.id].users,
                sessions_30d=activity[org.id].sessions_30d,
                synced_pages=activity[org.id].synced_pages,
                published_training=activity[org.id].published_training,
            ),
            created_at=org.created_at,
            updated_at=org.updated_at,
        )
        for org in orgs
    ]


async def get_own_org(session: AsyncSession, *, partner_id: uuid.UUID, org_id: uuid.UUID) -> Org:
    """One of the partner's live orgs; 404 alike for an unknown, deleted or another
    partner's org, so the partner console never confirms another partner's org exists."""
    org = await org_service.find_live_org(session, org_id=org_id)
    if org is None or org.partner_id != partner_id:
        raise NotFound("Org not found")
    return org


async def list_org_reads(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    external_id: str | None = None,
    health: OrgHealth | None = None,
    name_contains: str | None = None,
) -> tuple[list[OrgRead], str | None]:
    """The partner's live orgs, newest first, optionally of one health badge."""
    if health is None:
        orgs, next_cursor = await org_service.list_partner_orgs(
            session,
            partner_id=partner_id,
            cursor=cursor,
            limit=limit,
            external_id=external_id,
            name_contains=name_contains,
        )
        return await org_reads(session, orgs=orgs), next_cursor
    # Health is derived, so filter batch by batch until this page is full; the next page
    # starts after the last org shown, not after the batch (it may hold more matches).
    items: list[OrgRead] = []
    next_cursor = cursor
    while True:
        orgs, next_cursor = await org_service.list_partner_orgs(
            session,
            partner_id=partner_id,
            cursor=next_cursor,
            limit=limit,
            external_id=external_id,
            name_contains=name_contains,
        )
        matching = [read for read in await org_reads(session, orgs=orgs) if read.health == health]
        room = limit - len(items)
        items.extend(matching[:room])
        if len(matching) > room or (len(items) == limit and next_cursor is not None):
            return items, encode_cursor(items[-1].created_at, items[-1].id)
        if next_cursor is None:
            return items, None
