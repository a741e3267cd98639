"""`upsert_contact` and `contact_segments`: how sessions and the widget find or create the
person behind a conversation, keeping verified and claimed data apart."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from deskpilot.contacts import service
from deskpilot.db import transaction
from deskpilot.errors import Conflict
from deskpilot.models import Contact


async def upsert(sessionmaker, org, **fields):
    async with transaction(sessionmaker) as session:
        contact = await service.upsert_contact(session, org_id=uuid.UUID(org.id), **fields)
    return contact


async def all_contacts(sessionmaker):
    async with transaction(sessionmaker) as session:
        return list(await session.scalars(sa.select(Contact).order_by(Contact.created_at)))


class TestUpsertContact:
    async def test_verified_creates_then_updates_by_email_case_insensitively(
        self, org, sessionmaker
    ):
        first = await upsert(
            sessionmaker,
            org,
            verified=True,
            email="Ann@Example.com",
            name="Ann",
            custom_data={"plan": "pro"},
        )
        second = await upsert(
            sessionmaker,
            org,
            verified=True,
            email="ann@example.com",
            phone_number="+14155550100",
            avatar_url="https://example.com/a.png",
            language="de",
            custom_data={"segments": "vip"},
        )
        assert second.id == first.id
        [stored] = await all_contacts(sessionmaker)
        assert stored.email == "ann@example.com" and stored.name == "Ann"
        assert stored.phone_number == "+14155550100"
        assert stored.avatar_url == "https://example.com/a.png" and stored.language == "de"
        assert stored.custom_data == {"plan": "pro", "segments": "vip"}  # merged
        assert stored.non_verified_custom_data == {}

    async def test_matches_by_phone_when_no_email_matches(self, org, sessionmaker):
        first = await upsert(sessionmaker, org, verified=True, phone_number="+14155550100")
        second = await upsert(
            sessionmaker, org, verified=True, email="ann@example.com", phone_number="+14155550100"
        )
        assert second.id == first.id
        [stored] = await all_contacts(sessionmaker)
        assert stored.email == "ann@example.com"

    async def test_non_verified_data_never_reaches_verified_fields(self, org, sessionmaker):
        verified = await upsert(
            sessionmaker, org, verified=True, email="ann@example.com", name="Ann"
        )
        claimed = await upsert(
            sessionmaker,
            org,
            verified=False,
            email="ANN@example.com",
            name="Mallory",
            custom_data={"segments": "vip"},
        )
        assert claimed.id == verified.id
        [stored] = await all_contacts(sessionmaker)
        assert (stored.name, stored.email, stored.custom_data) == ("Ann", "ann@example.com", {})
        assert stored.non_verified_name == "Mallory"
        assert stored.non_verified_email == "ANN@example.com"
        assert stored.non_verified_custom_data == {"segments": "vip"}
        assert service.contact_segments(stored) == []

    async def test_repeated_unverified_claims_find_the_same_contact(self, org, sessionmaker):
        first = await upsert(sessionmaker, org, verified=False, email="visitor@example.com")
        second = await upsert(
            sessionmaker, org, verified=False, email="Visitor@example.com", name="Vi"
        )
        assert second.id == first.id
        [stored] = await all_contacts(sessionmaker)
        assert stored.email is None and stored.non_verified_name == "Vi"

    async def test_verified_phone_held_by_another_contact_conflicts(self, org, sessionmaker):
        await upsert(sessionmaker, org, verified=True, email="ann@example.com")
        await upsert(sessionmaker, org, verified=True, phone_number="+14155550100")
        with pytest.raises(Conflict):
            await upsert(
                sessionmaker,
                org,
                verified=True,
                email="ann@example.com",
                phone_number="+14155550100",
            )

    async def test_orgs_never_share_contacts(self, org, other_org, sessionmaker):
        mine = await upsert(sessionmaker, org, verified=True, email="ann@example.com")
        theirs = await upsert(sessionmaker, other_org, verified=True, email="ann@example.com")
        assert mine.id != theirs.id
        assert {c.org_id for c in await all_contacts(sessionmaker)} == {
            uuid.UUID(org.id),
            uuid.UUID(other_org.id),
        }


class TestContactSegments:
    def test_comma_separated_verified_segments(self):
        contact = Contact(custom_data={"segments": " vip, beta ,,"})
        assert service.contact_segments(contact) == ["vip", "beta"]

    def test_no_contact_or_no_segments(self):
        assert service.contact_segments(None) == []
        assert service.contact_segments(Contact(custom_data={})) == []
