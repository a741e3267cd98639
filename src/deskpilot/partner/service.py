"""Partner accounts: created by the operator, authenticated by their key."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot import credentials
from deskpilot.errors import InvalidInput, NotFound, Unauthorized
from deskpilot.models import Partner, PartnerApiKey, utcnow
from deskpilot.partner.schemas import Branding, PartnerRead, PartnerUpdate


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
