"""Training endpoints: validation, drafts and versions, filters, directories, tenancy."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import TrainingVersion

TITLE = "Refund policy"
CONTENT = "Refunds are possible within 30 days of purchase."


async def create(client, org, **body):
    payload = {"title": TITLE, "content": CONTENT, **body}
    return await client.post("/training", json=payload, headers=org.headers)


async def put(client, org, training_id, **body):
    return await client.put(f"/training/{training_id}", json=body, headers=org.headers)


async def versions(client, org, training_id, **params):
    response = await client.get(
        f"/training/{training_id}/versions", params=params, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestCreateTraining:
    async def test_defaults_publish_version_1(self, client, org):
        response = await create(client, org)
        assert response.status_code == 201
        body = response.json()
        assert body["type"] == "SCENARIO_SPECIFIC"
        assert body["is_draft"] is False
        assert body["current_version"] == 1
        assert body["title"] == TITLE and body["content"] == CONTENT
        assert body["draft_title"] is None and body["draft_content"] is None
        assert body["restricted_to_channels"] == [] and body["restricted_to_segments"] == []
        assert body["metadata"] == {}
        assert body["published_at"].endswith("Z")
        assert body["directory_id"] is None
        listed = await versions(client, org, body["id"])
        assert [(v["version"], v["title"], v["content"]) for v in listed["items"]] == [
            (1, TITLE, CONTENT)
        ]

    async def test_draft_is_stored_unpublished(self, client, org):
        body = (await create(client, org, is_draft=True)).json()
        assert body["is_draft"] is True
        assert body["current_version"] is None and body["published_at"] is None
        assert (body["title"], body["content"]) == (TITLE, CONTENT)
        assert (body["draft_title"], body["draft_content"]) == (TITLE, CONTENT)
        assert (await versions(client, org, body["id"]))["items"] == []

    async def test_stores_restrictions_metadata_and_window(self, client, org):
        body = (
            await create(
                client,
                org,
                type="BEHAVIORAL",
                restricted_to_channels=["web", "email", "web"],
                restricted_to_segments=["vip"],
                metadata={"source": "zendesk", "id": 42, "tags": ["a"]},
                start_time="2025-03-04T10:15:00+01:00",
                end_time="2025-03-05T09:15:00",
            )
        ).json()
        assert body["type"] == "BEHAVIORAL"
        assert body["restricted_to_channels"] == ["web", "email"]
        assert body["restricted_to_segments"] == ["vip"]
        assert body["metadata"] == {"source": "zendesk", "id": 42, "tags": ["a"]}
        assert body["start_time"] == "2025-03-04T09:15:00.000Z"
        assert body["end_time"] == "2025-03-05T09:15:00.000Z"

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"title": "ab"}, "title must be at least 3 characters"),
            ({"title": "x" * 201}, "title must be at most 200 characters"),
            ({"content": "too short"}, "content must be at least 10 characters"),
            ({"content": "x" * 20_001}, "content must be at most 20000 characters"),
            ({"type": "FAQ"}, "type must be one of the allowed values"),
            ({"restricted_to_channels": ["fax"]}, "restricted_to_channels.0 must be one of"),
            ({"metadata": {f"k{i}": i for i in range(51)}}, "metadata must have at most 50 keys"),
            ({"metadata": {"blob": "x" * 8200}}, "metadata must be at most 8 KB as JSON"),
            (
                {"start_time": "2025-03-04T10:00:00Z", "end_time": "2025-03-04T10:00:00Z"},
                "end_time must be after start_time",
            ),
            ({"title": "Nul \x00 here"}, "title must not contain NUL characters"),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, extra, message):
        response = await create(client, org, **extra)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)

    async def test_unknown_directory_is_404(self, client, org):
        response = await create(client, org, directory_id=str(uuid.uuid4()))
        assert response.status_code == 404
        assert response.json()["message"] == "Directory not found"


class TestUpdatePublished:
    async def test_edits_publish_the_next_version(self, client, org):
        item = (await create(client, org)).json()
        response = await put(client, org, item["id"], content="Refunds within 60 days now.")
        assert response.status_code == 200
        body = response.json()
        assert body["current_version"] == 2
        assert body["content"] == "Refunds within 60 days now."
        assert body["draft_content"] is None
        listed = await versions(client, org, item["id"])
        assert [v["version"] for v in listed["items"]] == [2, 1]
        assert listed["items"][1]["content"] == CONTENT  # version 1 is immutable

    async def test_draft_edits_leave_the_live_version_serving(self, client, org):
        item = (await create(client, org)).json()
        body = (await put(client, org, item["id"], is_draft=True, title="Refunds (new)")).json()
        assert body["is_draft"] is False and body["current_version"] == 1
        assert (body["title"], body["content"]) == (TITLE, CONTENT)
        assert (body["draft_title"], body["draft_content"]) == ("Refunds (new)", CONTENT)
        assert len((await versions(client, org, item["id"]))["items"]) == 1

    async def test_later_edit_without_is_draft_publishes_over_the_pending_draft(self, client, org):
        item = (await create(client, org)).json()
        await put(client, org, item["id"], is_draft=True, title="Refunds (new)")
        body = (await put(client, org, item["id"], content="A new refund text here.")).json()
        assert body["current_version"] == 2
        assert (body["title"], body["content"]) == ("Refunds (new)", "A new refund text here.")
        assert body["draft_title"] is None

    async def test_non_text_changes_apply_at_once_without_a_version(self, client, org):
        item = (await create(client, org)).json()
        body = (await put(client, org, item["id"], type="BEHAVIORAL", metadata={"k": "v"})).json()
        assert body["type"] == "BEHAVIORAL" and body["metadata"] == {"k": "v"}
        assert body["current_version"] == 1

    async def test_null_on_a_required_field_is_refused(self, client, org):
        item = (await create(client, org)).json()
        response = await put(client, org, item["id"], title=None)
        assert response.status_code == 400
        assert response.json()["message"] == "title cannot be null"

    async def test_window_is_checked_against_the_stored_bound(self, client, org):
        item = (await create(client, org, start_time="2025-03-04T10:00:00Z")).json()
        response = await put(client, org, item["id"], end_time="2025-03-04T09:00:00Z")
        assert response.status_code == 400
        assert response.json()["message"] == "end_time must be after start_time"
        cleared = await put(client, org, item["id"], start_time=None)
        assert cleared.status_code == 200 and cleared.json()["start_time"] is None


class TestUpdateUnpublished:
    async def test_edits_stay_draft_until_is_draft_false(self, client, org):
        item = (await create(client, org, is_draft=True)).json()
        body = (await put(client, org, item["id"], title="Refund rules")).json()
        assert body["is_draft"] is True and body["current_version"] is None
        assert body["title"] == body["draft_title"] == "Refund rules"
        body = (await put(client, org, item["id"], is_draft=False)).json()
        assert body["is_draft"] is False and body["current_version"] == 1
        assert body["title"] == "Refund rules" and body["draft_title"] is None


class TestDraftToggle:
    async def test_publishes_the_pending_draft_as_a_new_version(self, client, org):
        item = (await create(client, org)).json()
        await put(client, org, item["id"], is_draft=True, content="Draft refund wording.")
        response = await client.put(
            f"/training/{item['id']}/draft", json={"is_draft": False}, headers=org.headers
        )
        body = response.json()
        assert response.status_code == 200
        assert body["current_version"] == 2 and body["content"] == "Draft refund wording."
        assert body["draft_content"] is None

    async def test_unpublish_moves_the_text_into_the_draft(self, client, org):
        item = (await create(client, org)).json()
        body = (
            await client.put(
                f"/training/{item['id']}/draft", json={"is_draft": True}, headers=org.headers
            )
        ).json()
        assert body["is_draft"] is True
        assert (body["draft_title"], body["draft_content"]) == (TITLE, CONTENT)
        republished = (
            await client.put(
                f"/training/{item['id']}/draft", json={"is_draft": False}, headers=org.headers
            )
        ).json()
        assert republished["is_draft"] is False and republished["current_version"] == 2

    async def test_body_is_required(self, client, org):
        item = (await create(client, org)).json()
        response = await client.put(f"/training/{item['id']}/draft", json={}, headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"] == "is_draft is required"


class TestVersions:
    async def test_restore_copies_an_old_version_into_the_draft(self, client, org):
        item = (await create(client, org)).json()
        await put(client, org, item["id"], content="Second wording of refunds.")
        response = await client.post(
            f"/training/{item['id']}/versions/1/restore", headers=org.headers
        )
        body = response.json()
        assert response.status_code == 200
        assert body["content"] == "Second wording of refunds." and body["current_version"] == 2
        assert body["draft_content"] == CONTENT
        missing = await client.post(
            f"/training/{item['id']}/versions/9/restore", headers=org.headers
        )
        assert missing.status_code == 404

    async def test_pages_run_newest_first(self, client, org):
        item = (await create(client, org)).json()
        for n in range(2, 5):
            await put(client, org, item["id"], content=f"Wording number {n} of refunds.")
        first = await versions(client, org, item["id"], limit=3)
        assert [v["version"] for v in first["items"]] == [4, 3, 2]
        second = await versions(client, org, item["id"], limit=3, cursor=first["next"])
        assert [v["version"] for v in second["items"]] == [1] and second["next"] is None

    async def test_versions_rows_are_never_rewritten(self, client, org, sessionmaker):
        item = (await create(client, org)).json()
        await put(client, org, item["id"], is_draft=True, content="Pending wording here.")
        async with transaction(sessionmaker) as session:
            rows = (await session.scalars(sa.select(TrainingVersion))).all()
        assert [(row.version, row.content) for row in rows] == [(1, CONTENT)]


class TestListTraining:
    async def test_filters(self, client, org):
        web = (await create(client, org, restricted_to_channels=["web"])).json()
        anywhere = (await create(client, org, type="BEHAVIORAL", title="Be polite")).json()
        draft = (await create(client, org, is_draft=True, content="Shipping takes 3 days.")).json()

        async def ids(**params):
            response = await client.get("/training", params=params, headers=org.headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids() == [draft["id"], anywhere["id"], web["id"]]
        assert await ids(type="BEHAVIORAL") == [anywhere["id"]]
        assert await ids(is_draft="true") == [draft["id"]]
        assert await ids(channel="email") == [draft["id"], anywhere["id"]]
        assert await ids(channel="web") == [draft["id"], anywhere["id"], web["id"]]
        assert await ids(q="SHIPPING") == [draft["id"]]
        assert await ids(q="100%") == []

    async def test_cursor_pages(self, client, org):
        created = [(await create(client, org, title=f"Entry {i}")).json()["id"] for i in range(3)]
        first = (await client.get("/training?limit=2", headers=org.headers)).json()
        second = (
            await client.get(f"/training?limit=2&cursor={first['next']}", headers=org.headers)
        ).json()
        assert [i["id"] for i in first["items"] + second["items"]] == created[::-1]
        assert second["next"] is None


class TestDirectories:
    async def test_create_move_and_filter(self, client, org):
        directory = await client.post(
            "/training/directories", json={"name": "Billing"}, headers=org.headers
        )
        assert directory.status_code == 201
        directory_id = directory.json()["id"]
        item = (await create(client, org)).json()
        moved = await client.put(
            f"/training/{item['id']}/move", json={"directory_id": directory_id}, headers=org.headers
        )
        assert moved.status_code == 200 and moved.json()["directory_id"] == directory_id
        listed = await client.get(
            "/training", params={"directory_id": directory_id}, headers=org.headers
        )
        assert [i["id"] for i in listed.json()["items"]] == [item["id"]]
        out = await client.put(
            f"/training/{item['id']}/move", json={"directory_id": None}, headers=org.headers
        )
        assert out.json()["directory_id"] is None

    async def test_delete_conflicts_unless_empty(self, client, org):
        parent = (
            await client.post("/training/directories", json={"name": "A"}, headers=org.headers)
        ).json()
        child = (
            await client.post(
                "/training/directories",
                json={"name": "B", "parent_id": parent["id"]},
                headers=org.headers,
            )
        ).json()
        item = (await create(client, org, directory_id=child["id"])).json()
        base = "/training/directories"
        assert (
            await client.delete(f"{base}/{parent['id']}", headers=org.headers)
        ).status_code == 409
        assert (
            await client.delete(f"{base}/{child['id']}", headers=org.headers)
        ).status_code == 409
        await client.delete(f"/training/{item['id']}", headers=org.headers)
        assert (
            await client.delete(f"{base}/{child['id']}", headers=org.headers)
        ).status_code == 204
        assert (
            await client.delete(f"{base}/{parent['id']}", headers=org.headers)
        ).status_code == 204
        assert (await client.get(base, headers=org.headers)).json() == []

    async def test_rename_and_no_cycles(self, client, org):
        base = "/training/directories"
        parent = (await client.post(base, json={"name": "A"}, headers=org.headers)).json()
        child = (
            await client.post(
                base, json={"name": "B", "parent_id": parent["id"]}, headers=org.headers
            )
        ).json()
        cycle = await client.patch(
            f"{base}/{parent['id']}", json={"parent_id": child["id"]}, headers=org.headers
        )
        assert cycle.status_code == 400
        renamed = await client.patch(
            f"{base}/{child['id']}",
            json={"name": "Renamed", "parent_id": None},
            headers=org.headers,
        )
        assert renamed.status_code == 200
        assert renamed.json()["name"] == "Renamed" and renamed.json()["parent_id"] is None


class TestDeleteTraining:
    async def test_delete_removes_item_and_versions(self, client, org, sessionmaker):
        item = (await create(client, org)).json()
        response = await client.delete(f"/training/{item['id']}", headers=org.headers)
        assert response.status_code == 204
        assert (await client.get(f"/training/{item['id']}", headers=org.headers)).status_code == 404
        async with transaction(sessionmaker) as session:
            assert (await session.scalars(sa.select(TrainingVersion))).all() == []


class TestTenancy:
    async def test_another_orgs_training_and_directories_are_404(self, client, org, other_org):
        item = (await create(client, org)).json()
        directory = (
            await client.post("/training/directories", json={"name": "A"}, headers=org.headers)
        ).json()
        base = f"/training/{item['id']}"
        headers = other_org.headers
        attempts = [
            client.get(base, headers=headers),
            client.put(base, json={"title": "Stolen title"}, headers=headers),
            client.delete(base, headers=headers),
            client.put(f"{base}/draft", json={"is_draft": True}, headers=headers),
            client.put(f"{base}/move", json={"directory_id": None}, headers=headers),
            client.get(f"{base}/versions", headers=headers),
            client.post(f"{base}/versions/1/restore", headers=headers),
            client.patch(
                f"/training/directories/{directory['id']}", json={"name": "X"}, headers=headers
            ),
            client.delete(f"/training/directories/{directory['id']}", headers=headers),
            # Ids of another org in bodies are unknown too.
            create(client, other_org, directory_id=directory["id"]),
            client.post(
                "/training/directories",
                json={"name": "B", "parent_id": directory["id"]},
                headers=headers,
            ),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, (response.request.url, response.text)
        assert (await client.get("/training", headers=headers)).json()["items"] == []
        assert (await client.get("/training/directories", headers=headers)).json() == []
        assert (await client.get(base, headers=org.headers)).json()["title"] == TITLE
