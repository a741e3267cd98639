"""Tag endpoints: upsert by case-insensitive name, validation, the per-org cap, tenancy."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from deskpilot.db import transaction
from deskpilot.orgsettings import service
from deskpilot.orgsettings.schemas import TagUpsert


async def put(client, org, **body):
    return await client.put("/tags", json=body, headers=org.headers)


class TestUpsertTag:
    async def test_creates_with_defaults_then_updates(self, client, org):
        created = await put(client, org, tag_name="billing")
        assert created.status_code == 201
        body = created.json()
        assert body["tag_name"] == "billing"
        assert body["description"] is None
        assert body["exclude_from_auto_tagging"] is False
        assert body["category_id"] is None
        category = str(uuid.uuid4())
        updated = await put(
            client,
            org,
            tag_name="Billing",
            description="Invoices and payments",
            exclude_from_auto_tagging=True,
            category_id=category,
        )
        assert updated.status_code == 200
        assert updated.json()["tag_name"] == "Billing"
        assert updated.json()["description"] == "Invoices and payments"
        assert updated.json()["exclude_from_auto_tagging"] is True
        assert updated.json()["category_id"] == category
        listed = (await client.get("/tags", headers=org.headers)).json()
        assert [tag["tag_name"] for tag in listed] == ["Billing"]

    async def test_omitted_fields_stay_and_null_clears_the_category(self, client, org):
        category = str(uuid.uuid4())
        await put(client, org, tag_name="vip", description="Big customers", category_id=category)
        kept = (await put(client, org, tag_name="VIP")).json()
        assert kept["description"] == "Big customers" and kept["category_id"] == category
        cleared = (await put(client, org, tag_name="vip", category_id=None)).json()
        assert cleared["category_id"] is None and cleared["description"] == "Big customers"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, "tag_name is required"),
            ({"tag_name": ""}, "tag_name must not be empty"),
            ({"tag_name": "x" * 51}, "tag_name must be at most 50 characters"),
            ({"tag_name": "a", "description": "d" * 161}, "description must be at most 160"),
            ({"tag_name": "a", "category_id": "nope"}, "category_id must be a UUID"),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, body, message):
        response = await put(client, org, **body)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)

    async def test_at_most_500_per_org(self, client, org, sessionmaker):
        async with transaction(sessionmaker) as session:
            for i in range(500):
                await service.upsert_tag(
                    session, org_id=uuid.UUID(org.id), data=TagUpsert(tag_name=f"t{i}")
                )
        assert (await put(client, org, tag_name="one-too-many")).status_code == 409
        assert (await put(client, org, tag_name="T7", description="update")).status_code == 200


class TestDeleteTag:
    async def test_by_url_encoded_case_insensitive_name(self, client, org):
        await put(client, org, tag_name="Refunds / Returns")
        await put(client, org, tag_name="keep")
        path = "/tags/" + quote("refunds / returns", safe="")
        assert (await client.delete(path, headers=org.headers)).status_code == 204
        assert [t["tag_name"] for t in (await client.get("/tags", headers=org.headers)).json()] == [
            "keep"
        ]
        again = await client.delete(path, headers=org.headers)
        assert again.status_code == 404 and again.json()["message"] == "Tag not found"


class TestTenancy:
    async def test_another_orgs_tags_are_invisible(self, client, org, other_org):
        await put(client, org, tag_name="billing", description="Mine")
        assert (await client.delete("/tags/billing", headers=other_org.headers)).status_code == 404
        assert (await client.get("/tags", headers=other_org.headers)).json() == []
        # The same name in another org is a separate tag.
        theirs = await put(client, other_org, tag_name="billing", description="Theirs")
        assert theirs.status_code == 201
        mine = (await client.get("/tags", headers=org.headers)).json()
        assert [(t["tag_name"], t["description"]) for t in mine] == [("billing", "Mine")]
