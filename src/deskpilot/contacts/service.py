"""Contacts of one org: CRUD for the Org API, and the upsert chat sessions and the widget
use to find or create the person behind a conversation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.contacts.schemas import MAX_CUSTOM_DATA_KEYS, ContactInput
from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import Contact, utcnow
from deskpilot.pagination import apply_cursor, contains_pattern, page_of, time_range
from deskpilot.tenancy import org_scoped


def email_key(email: str) -> str:
    return email.strip().lower()


def contact_segments(contact: Contact | None) -> list[str]:
    """The contact's segments: its verified `custom_data.segments`, comma-separated
    (non-verified data never counts, API.md 3.3)."""
    if contact is None:
        return []
    raw = (contact.custom_data or {}).get("segments", "")
    return [segment.strip() for segment in str(raw).split(",") if segment.strip()]


async def get_contact(
    session: AsyncSession, *, org_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact:
    contact = (
        await session.scalars(org_scoped(Contact, org_id).where(Contact.id == contact_id))
    ).first()
    if contact is None:
        raise NotFound("Contact not found")
    return contact


async def find_contact_by_email(
    session: AsyncSession, *, org_id: uuid.UUID, email: str
) -> Contact | None:
    return (
        await session.scalars(
            org_scoped(Contact, org_id).where(Contact.email_key == email_key(email))
        )
    ).first()


async def find_contact_by_phone(
    session: AsyncSession, *, org_id: uuid.UUID, phone_number: str
) -> Contact | None:
    return (
        await session.scalars(
            org_scoped(Contact, org_id).where(Contact.phone_number == phone_number)
        )
    ).first()


async def _check_unique(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str | None,
    phone_number: str | None,
    except_id: uuid.UUID | None,
) -> None:
    if email is not None:
        other = await find_contact_by_email(session, org_id=org_id, email=email)
        if other is not None and other.id != except_id:
            raise Conflict("A contact with this email already exists")
    if phone_number is not None:
        other = await find_contact_by_phone(session, org_id=org_id, phone_number=phone_number)
        if other is not None and other.id != except_id:
            raise Conflict("A contact with this phone number already exists")


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # The checks above passed, so a concurrent request took the value in between.
        raise Conflict("A contact with this email or phone number already exists") from exc


async def create_contact(
    session: AsyncSession, *, org_id: uuid.UUID, data: ContactInput
) -> Contact:
    """Org API writes are verified. Email and phone are each unique per org (409)."""
    phone = data.phone_value
    await _check_unique(
        session, org_id=org_id, email=data.email, phone_number=phone, except_id=None
    )
    contact = Contact(
        org_id=org_id,
        email=data.email,
        email_key=email_key(data.email) if data.email else None,
        phone_number=phone,
        name=data.name,
        custom_data=dict(data.custom_data or {}),
        non_verified_custom_data={},
    )
    session.add(contact)
    await _flush_unique(session)
    return contact


async def update_contact(session: AsyncSession, *, contact: Contact, data: ContactInput) -> Contact:
    fields = data.model_fields_set
    phone = data.phone_value
    await _check_unique(
        session,
        org_id=contact.org_id,
        email=data.email if "email" in fields else None,
        phone_number=phone if data.phone_given else None,
        except_id=contact.id,
    )
    if "email" in fields:
        contact.email = data.email
        contact.email_key = email_key(data.email) if data.email else None
    if data.phone_given:
        contact.phone_number = phone
    if "name" in fields:
        contact.name = data.name
    if "custom_data" in fields:
        contact.custom_data = dict(data.custom_data or {})
    contact.updated_at = utcnow()
    await _flush_unique(session)
    return contact


async def delete_contact(session: AsyncSession, *, contact: Contact) -> None:
    """The contact's sessions stay, detached (their foreign key is ON DELETE SET NULL)."""
    await session.delete(contact)
    await session.flush()


async def list_contacts(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    email: str | None = None,
    phone_number: str | None = None,
    q: str | None = None,
) -> tuple[list[Contact], str | None]:
    """Newest first. The date bounds are inclusive at the millisecond precision timestamps
    are emitted with, so a value read from a contact matches that contact. `q` finds text
    anywhere in a name or an email, verified or not (the dashboard's search)."""
    stmt = org_scoped(Contact, org_id)
    stmt = stmt.where(
        *time_range(Contact.created_at, created_after, created_before),
        *time_range(Contact.updated_at, updated_after, updated_before),
    )
    if email is not None:
        stmt = stmt.where(Contact.email_key == email_key(email))
    if phone_number is not None:
        stmt = stmt.where(Contact.phone_number == phone_number)
    if q:
        pattern = contains_pattern(q)
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Contact.name).like(pattern, escape="\\"),
                sa.func.lower(Contact.non_verified_name).like(pattern, escape="\\"),
                Contact.email_key.like(pattern, escape="\\"),
                Contact.non_verified_email_key.like(pattern, escape="\\"),
            )
        )
    stmt = apply_cursor(
        stmt, created_col=Contact.created_at, id_col=Contact.id, cursor=cursor, limit=limit
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda contact: (contact.created_at, contact.id))


def _merged(current: Mapping[str, str] | None, changes: Mapping[str, str]) -> dict[str, str]:
    merged = {**(current or {}), **changes}
    if len(merged) > MAX_CUSTOM_DATA_KEYS:
        raise InvalidInput(f"custom_data must have at most {MAX_CUSTOM_DATA_KEYS} keys")
    return merged


async def _match(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str | None,
    phone_number: str | None,
    verified: bool,
) -> Contact | None:
    """By email, then by phone: verified values first; a non-verified caller may also land
    on a contact created by an earlier non-verified claim of the same value."""
    conditions: list[sa.ColumnElement[bool]] = []
    if email:
        conditions.append(Contact.email_key == email_key(email))
        if not verified:
            conditions.append(Contact.non_verified_email_key == email_key(email))
    if phone_number:
        conditions.append(Contact.phone_number == phone_number)
        if not verified:
            conditions.append(Contact.non_verified_phone_number == phone_number)
    for condition in conditions:
        contact = (
            await session.scalars(
                org_scoped(Contact, org_id).where(condition).order_by(Contact.created_at)
            )
        ).first()
        if contact is not None:
            return contact
    return None


async def upsert_contact(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    verified: bool,
    email: str | None = None,
    phone_number: str | None = None,
    name: str | None = None,
    avatar_url: str | None = None,
    language: str | None = None,
    custom_data: Mapping[str, str] | None = None,
) -> Contact:
    """Find the contact by email, then phone, or create it; then merge the given data in.

    `verified` says where the data lands: verified fields (`email`, `phone_number`, `name`,
    `avatar_url`, `custom_data`) for callers the org vouches for (Org API, authenticated
    widget users), `non_verified_*` otherwise; verified fields are never written by a
    non-verified call. `custom_data` keys are merged. Values must already be validated
    (`ContactInput` / `ContactCustomData`). A verified email or phone held by another
    contact is a Conflict.
    """
    contact = await _match(
        session, org_id=org_id, email=email, phone_number=phone_number, verified=verified
    )
    if contact is None:
        contact = Contact(org_id=org_id, custom_data={}, non_verified_custom_data={})
        session.add(contact)
    if verified:
        await _check_unique(
            session,
            org_id=org_id,
            email=email,
            phone_number=phone_number,
            except_id=contact.id,
        )
        if email:
            contact.email, contact.email_key = email, email_key(email)
        if phone_number:
            contact.phone_number = phone_number
        if name:
            contact.name = name
        if avatar_url:
            contact.avatar_url = avatar_url
        if custom_data:
            contact.custom_data = _merged(contact.custom_data, custom_data)
    else:
        if email:
            contact.non_verified_email = email
            contact.non_verified_email_key = email_key(email)
        if phone_number:
            contact.non_verified_phone_number = phone_number
        if name:
            contact.non_verified_name = name
        if custom_data:
            contact.non_verified_custom_data = _merged(
                contact.non_verified_custom_data, custom_data
            )
    if language:
        contact.language = language
    contact.updated_at = utcnow()
    await _flush_unique(session)
    return contact
