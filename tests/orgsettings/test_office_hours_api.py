"""Office-hours endpoints: validation, shift replacement, the default schedule, status."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from deskpilot.orgsettings.hours import Schedule, Shift, next_opening

WEEKDAYS = {"day_of_week": "monday_to_friday", "start_time": "09:00:00", "end_time": "17:00:00"}


async def create(client, org, **body):
    payload = {
        "name": "Business Hours",
        "iana_timezone": "America/New_York",
        "shifts": [WEEKDAYS],
        **body,
    }
    return await client.post("/office-hours", json=payload, headers=org.headers)


async def create_id(client, org, **body):
    response = await create(client, org, **body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def defaults(client, org):
    schedules = (await client.get("/office-hours", headers=org.headers)).json()
    return {s["name"]: s["is_default"] for s in schedules}


class TestCreateSchedule:
    async def test_returns_the_schedule_with_its_shifts(self, client, org):
        response = await create(
            client,
            org,
            shifts=[
                WEEKDAYS,
                {"day_of_week": "saturday", "start_time": "10:00:00", "end_time": "24:00:00"},
            ],
        )
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "Business Hours"
        assert body["iana_timezone"] == "America/New_York"
        assert body["is_default"] is True  # the org's first schedule
        assert [(s["day_of_week"], s["start_time"], s["end_time"]) for s in body["shifts"]] == [
            ("monday_to_friday", "09:00:00", "17:00:00"),
            ("saturday", "10:00:00", "24:00:00"),
        ]
        assert all(uuid.UUID(s["id"]) and s["created_at"].endswith("Z") for s in body["shifts"])
        fetched = await client.get(f"/office-hours/{body['id']}", headers=org.headers)
        assert fetched.json() == body

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"iana_timezone": "Mars/Olympus"}, "iana_timezone must be an IANA time zone"),
            ({"iana_timezone": "America"}, "iana_timezone must be an IANA time zone"),
            ({"iana_timezone": "../../etc/passwd"}, "iana_timezone must be an IANA time zone"),
            ({"name": ""}, "name must not be empty"),
            ({"shifts": []}, "shifts has the wrong number of items"),
            ({"shifts": [WEEKDAYS] * 51}, "shifts has the wrong number of items"),
            (
                {"shifts": [{**WEEKDAYS, "day_of_week": "weekdays"}]},
                "shifts.0.day_of_week must be one of the allowed values",
            ),
            ({"shifts": [{**WEEKDAYS, "start_time": "9:00"}]}, "shifts.0.start_time has an"),
            (
                {"shifts": [{**WEEKDAYS, "start_time": "24:00:00"}]},
                "shifts.0.start_time must be before 24:00:00",
            ),
            (
                {"shifts": [{**WEEKDAYS, "start_time": "22:00:00", "end_time": "02:00:00"}]},
                "shifts.0.end_time must be after start_time",
            ),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, extra, message):
        response = await create(client, org, **extra)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)


class TestReplaceSchedule:
    async def test_matching_shift_ids_are_kept_others_replaced(self, client, org):
        body = (
            await create(
                client,
                org,
                shifts=[
                    WEEKDAYS,
                    {"day_of_week": "saturday", "start_time": "10:00:00", "end_time": "14:00:00"},
                ],
            )
        ).json()
        kept, dropped = body["shifts"]
        response = await client.put(
            f"/office-hours/{body['id']}",
            json={
                "name": "Winter hours",
                "iana_timezone": "Europe/Berlin",
                "shifts": [
                    {"day_of_week": "sunday", "start_time": "12:00:00", "end_time": "13:00:00"},
                    {**WEEKDAYS, "id": kept["id"], "end_time": "16:00:00"},
                    {"id": str(uuid.uuid4()), **WEEKDAYS},
                ],
            },
            headers=org.headers,
        )
        assert response.status_code == 200
        updated = response.json()
        assert updated["name"] == "Winter hours"
        assert updated["iana_timezone"] == "Europe/Berlin"
        ids = [s["id"] for s in updated["shifts"]]
        assert ids[1] == kept["id"] and dropped["id"] not in ids
        assert len(set(ids)) == 3
        assert updated["shifts"][1]["end_time"] == "16:00:00"
        assert updated["is_default"] is True  # omitted = unchanged

    async def test_unknown_zone_on_put(self, client, org):
        schedule_id = await create_id(client, org)
        response = await client.put(
            f"/office-hours/{schedule_id}",
            json={"name": "X", "iana_timezone": "Nowhere/Land", "shifts": [WEEKDAYS]},
            headers=org.headers,
        )
        assert response.status_code == 400


class TestDefaultSchedule:
    async def test_first_is_default_until_another_is_marked(self, client, org):
        first = await create_id(client, org, name="First")
        await create_id(client, org, name="Second")
        assert await defaults(client, org) == {"First": True, "Second": False}
        await create_id(client, org, name="Third", is_default=True)
        assert await defaults(client, org) == {"First": False, "Second": False, "Third": True}
        response = await client.put(
            f"/office-hours/{first}",
            json={
                "name": "First",
                "iana_timezone": "UTC",
                "shifts": [WEEKDAYS],
                "is_default": True,
            },
            headers=org.headers,
        )
        assert response.status_code == 200
        assert await defaults(client, org) == {"First": True, "Second": False, "Third": False}

    async def test_default_cannot_simply_be_unmarked(self, client, org):
        first = await create_id(client, org, name="First")
        response = await client.put(
            f"/office-hours/{first}",
            json={
                "name": "First",
                "iana_timezone": "UTC",
                "shifts": [WEEKDAYS],
                "is_default": False,
            },
            headers=org.headers,
        )
        assert response.status_code == 409

    async def test_deleting_the_default_promotes_the_oldest(self, client, org):
        first = await create_id(client, org, name="First")
        await create_id(client, org, name="Second")
        await create_id(client, org, name="Third")
        assert (
            await client.delete(f"/office-hours/{first}", headers=org.headers)
        ).status_code == 204
        assert await defaults(client, org) == {"Second": True, "Third": False}
        assert (await client.get(f"/office-hours/{first}", headers=org.headers)).status_code == 404


class TestStatus:
    async def test_no_schedule_means_always_open(self, client, org):
        status = (await client.get("/office-hours/status", headers=org.headers)).json()
        assert status == {
            "is_open": True,
            "schedule_id": None,
            "iana_timezone": None,
            "next_change_at": None,
        }

    async def test_reports_the_default_schedule(self, client, org):
        # Open one second a week: closed now, opening next Monday at midnight in Tokyo.
        schedule_id = await create_id(
            client,
            org,
            iana_timezone="Asia/Tokyo",
            shifts=[{"day_of_week": "monday", "start_time": "00:00:00", "end_time": "00:00:01"}],
        )
        status = (await client.get("/office-hours/status", headers=org.headers)).json()
        expected = next_opening(Schedule("Asia/Tokyo", (Shift("monday", 0, 1),)), datetime.now(UTC))
        assert status["is_open"] is False
        assert status["schedule_id"] == schedule_id
        assert status["iana_timezone"] == "Asia/Tokyo"
        assert status["next_change_at"] == expected.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )


class TestTenancy:
    async def test_another_orgs_schedule_is_404(self, client, org, other_org):
        schedule_id = await create_id(client, org)
        base = f"/office-hours/{schedule_id}"
        headers = other_org.headers
        body = {"name": "Mine now", "iana_timezone": "UTC", "shifts": [WEEKDAYS]}
        attempts = [
            client.get(base, headers=headers),
            client.put(base, json=body, headers=headers),
            client.delete(base, headers=headers),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, response.request.url
        assert (await client.get("/office-hours", headers=headers)).json() == []
        status = (await client.get("/office-hours/status", headers=headers)).json()
        assert status["schedule_id"] is None
        assert (await client.get(base, headers=org.headers)).json()["name"] == "Business Hours"
