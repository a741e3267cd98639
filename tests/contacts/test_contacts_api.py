"""Contact endpoints: validation, flat custom_data, uniqueness, filters, tenancy."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import Contact


async def create(client, org, **contact):
    return await client.post("/contacts", json={"contact": contact}, headers=org.headers)


async def create_id(client, org, **contact):
    response = await create(client, org, **contact)
    assert response.status_code == 201, response.text
    return response.json()["id"]


class TestCreateContact:
    async def test_returns_the_id_and_stores_verified_fields(self, client, org):
        response = await create(
            client,
            org,
            email="Ann@Example.com",
            phone="+4915112345678",
            name="Ann",
            custom_data={"plan": "pro"},
        )
        assert response.status_code == 201
        assert set(response.json()) == {"id"}
        contact = (
            await client.get(f"/contacts/{response.json()['id']}", headers=org.headers)
        ).json()
        assert contact["email"] == "Ann@example.com"
        assert contact["phone_number"] == "+4915112345678"
        assert contact["name"] == "Ann" and contact["custom_data"] == {"plan": "pro"}
        assert contact["non_verified_name"] is None
        assert contact["non_verified_custom_data"] == {}
        assert contact["created_at"].endswith("Z")

    async def test_phone_number_is_accepted_as_an_alias(self, client, org):
        contact_id = await create_id(client, org, phone_number="+14155550100")
        contact = (await client.get(f"/contacts/{contact_id}", headers=org.headers)).json()
        assert contact["phone_number"] == "+14155550100"

    @pytest.mark.parametrize(
        ("contact", "message"),
        [
            ({}, "contact must set at least one of email, phone, name, custom_data"),
            ({"email": "not-an-email"}, "contact.email must be a valid email address"),
            ({"phone": "0151 123"}, "contact.phone has an invalid format"),
            ({"name": "x" * 201}, "contact.name must be at most 200 characters"),
            (
                {"custom_data": {"address": {"city": "Berlin"}}},
                "contact.custom_data must be a flat object",
            ),
            ({"custom_data": {"tags": ["a"]}}, "contact.custom_data must be a flat object"),
            ({"custom_data": {"age": 42}}, "contact.custom_data.age must be a string"),
            (
                {"custom_data": {f"k{i}": "v" for i in range(51)}},
                "contact.custom_data must have at most 50 keys",
            ),
            ({"custom_data": {"k" * 65: "v"}}, "contact.custom_data keys must be 1-64"),
            (
                {"custom_data": {"note": "x" * 1001}},
                "contact.custom_data value of 'note' must be at most 1000",
            ),
            (
                {"phone": "+14155550100", "phone_number": "+14155550101"},
                "contact must not give phone and phone_number with different values",
            ),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, contact, message):
        response = await create(client, org, **contact)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)

    async def test_email_is_unique_case_insensitively(self, client, org):
        await create_id(client, org, email="ann@example.com")
        again = await create(client, org, email="ANN@example.com")
        assert again.status_code == 409
        assert again.json()["error"] == "Conflict"

    async def test_phone_is_unique(self, client, org):
        await create_id(client, org, phone="+14155550100")
        assert (await create(client, org, phone_number="+14155550100")).status_code == 409

    async def test_the_same_email_in_another_org_is_fine(self, client, org, other_org):
        await create_id(client, org, email="ann@example.com")
        assert (await create(client, other_org, email="ann@example.com")).status_code == 201


class TestUpdateContact:
    async def test_partial_update_null_clears_custom_data_replaces(self, client, org):
        contact_id = await create_id(
            client, org, email="ann@example.com", name="Ann", custom_data={"a": "1"}
        )
        response = await client.patch(
            f"/contacts/{contact_id}",
            json={"contact": {"name": None, "custom_data": {"b": "2"}}},
            headers=org.headers,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["email"] == "ann@example.com"
        assert body["name"] is None
        assert body["custom_data"] == {"b": "2"}

    async def test_taking_another_contacts_email_conflicts(self, client, org):
        await create_id(client, org, email="ann@example.com")
        bob = await create_id(client, org, email="bob@example.com")
        response = await client.patch(
            f"/contacts/{bob}", json={"contact": {"email": "Ann@Example.com"}}, headers=org.headers
        )
        assert response.status_code == 409
        same = await client.patch(
            f"/contacts/{bob}", json={"contact": {"email": "BOB@example.com"}}, headers=org.headers
        )
        assert same.status_code == 200 and same.json()["email"] == "BOB@example.com"


class TestListContacts:
    async def test_filters_by_email_and_phone(self, client, org):
        ann = await create_id(client, org, email="ann@example.com", phone="+14155550100")
        await create_id(client, org, email="bob@example.com")

        async def ids(**params):
            response = await client.get("/contacts", params=params, headers=org.headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(email="ANN@example.com") == [ann]
        assert await ids(phone_number="+14155550100") == [ann]
        assert len(await ids()) == 2

    async def test_date_filters_and_cursor(self, client, org):
        first = await create_id(client, org, name="First")
        await asyncio.sleep(0.01)
        first_body = (await client.get(f"/contacts/{first}", headers=org.headers)).json()
        second = await create_id(client, org, name="Second")
        third = await create_id(client, org, name="Third")

        async def ids(**params):
            response = await client.get("/contacts", params=params, headers=org.headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]], response.json()["next"]

        after, _ = await ids(created_after=first_body["created_at"])
        assert after == [third, second, first]
        before, _ = await ids(created_before=first_body["created_at"])
        assert before == [first]
        assert (await ids(updated_after="2999-01-01T00:00:00Z"))[0] == []
        assert (await ids(updated_before="2000-01-01T00:00:00+02:00"))[0] == []
        page, cursor = await ids(limit=2)
        assert page == [third, second]
        assert (await ids(limit=2, cursor=cursor)) == ([first], None)

    async def test_bad_timestamp_names_the_parameter(self, client, org):
        response = await client.get("/contacts?created_after=yesterday", headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"] == "created_after must be an ISO 8601 timestamp"


class TestDeleteContact:
    async def test_delete_removes_the_row(self, client, org, sessionmaker):
        contact_id = await create_id(client, org, email="ann@example.com")
        assert (
            await client.delete(f"/contacts/{contact_id}", headers=org.headers)
        ).status_code == 204
        assert (await client.get(f"/contacts/{contact_id}", headers=org.headers)).status_code == 404
        async with transaction(sessionmaker) as session:
            assert (await session.scalars(sa.select(Contact))).all() == []
        # The email is free again.
        assert (await create(client, org, email="ann@example.com")).status_code == 201


class TestTenancy:
    async def test_another_orgs_contact_is_404(self, client, org, other_org):
        contact_id = await create_id(client, org, email="ann@example.com")
        headers = other_org.headers
        attempts = [
            client.get(f"/contacts/{contact_id}", headers=headers),
            client.patch(
                f"/contacts/{contact_id}", json={"contact": {"name": "X"}}, headers=headers
            ),
            client.delete(f"/contacts/{contact_id}", headers=headers),
            client.get(f"/contacts/{uuid.uuid4()}", headers=org.headers),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, response.request.url
            assert response.json()["message"] == "Contact not found"
        listed = await client.get("/contacts?email=ann@example.com", headers=headers)
        assert listed.json()["items"] == []
        still = (await client.get(f"/contacts/{contact_id}", headers=org.headers)).json()
        assert still["email"] == "ann@example.com" and still["name"] is None
