"""Autopilot and handoff settings: documented defaults, partial updates, validation, the
effective handoff toggles, and per-org isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from deskpilot.db import transaction
from deskpilot.orgsettings import service
from deskpilot.orgsettings.schemas import CHANNELS

LEVEL_1 = {
    "enabled": True,
    "on_frustration": True,
    "on_unproductive_conversation": True,
    "unproductive_after_turns": 1,
    "on_human_request": True,
    "require_problem_description": False,
    "collect_fields": [],
    "outside_office_hours": "handoff",
}


class TestAutopilot:
    async def test_defaults_when_never_set(self, client, org):
        response = await client.get("/autopilot", headers=org.headers)
        assert response.status_code == 200
        assert response.json() == {
            "channels": {channel: {"mode": "autopilot"} for channel in CHANNELS},
            "topics": [],
            "updated_at": None,
        }

    async def test_only_listed_channels_change_and_topics_are_replaced(self, client, org):
        first = await client.patch(
            "/autopilot",
            json={
                "channels": {"email": {"mode": "assist"}, "web": {"mode": "off"}},
                "topics": ["Refund requests above 500 EUR", "legal complaints"],
            },
            headers=org.headers,
        )
        assert first.status_code == 200
        second = await client.patch(
            "/autopilot",
            json={
                "channels": {"web": {"mode": "autopilot"}},
                "topics": ["Legal complaints", "legal COMPLAINTS", "  press enquiries  "],
            },
            headers=org.headers,
        )
        body = second.json()
        assert body["channels"]["web"] == {"mode": "autopilot"}
        assert body["channels"]["email"] == {"mode": "assist"}
        assert body["topics"] == ["Legal complaints", "press enquiries"]
        assert body["updated_at"].endswith("Z")
        assert (await client.get("/autopilot", headers=org.headers)).json() == body

    async def test_channel_mode_for_the_agent(self, client, org, sessionmaker):
        await client.patch(
            "/autopilot", json={"channels": {"api": {"mode": "off"}}}, headers=org.headers
        )
        async with transaction(sessionmaker) as session:
            org_id = uuid.UUID(org.id)
            assert await service.channel_mode(session, org_id=org_id, channel="api") == "off"
            assert await service.channel_mode(session, org_id=org_id, channel="web") == "autopilot"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"channels": {"phone_voice": {"mode": "assist"}}}, "channels must not use assist"),
            ({"channels": {"web": {"mode": "manual"}}}, "channels.web.mode must be one of"),
            ({"channels": {"fax": {"mode": "off"}}}, "channels has an unknown channel 'fax'"),
            ({"topics": ["ab"]}, "topics.0 must be at least 3 characters"),
            ({"topics": ["x" * 201]}, "topics.0 must be at most 200 characters"),
            ({"topics": ["topic"] * 101}, "topics has the wrong number of items"),
            ({"topics": None}, "topics cannot be null"),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, body, message):
        response = await client.patch("/autopilot", json=body, headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)


class TestHandoffSettings:
    async def test_defaults_when_never_set(self, client, org):
        response = await client.get("/handoff-settings", headers=org.headers)
        assert response.status_code == 200
        assert response.json() == {
            "mode": "preset",
            "preset_level": 1,
            "advanced": LEVEL_1,
            "effective": LEVEL_1,
            "office_hours_id": None,
            "updated_at": None,
        }

    @pytest.mark.parametrize(
        ("level", "expected"),
        [
            (0, {"enabled": False, "on_human_request": False}),
            (2, {"on_frustration": False, "unproductive_after_turns": 3}),
            (
                3,
                {
                    "on_frustration": False,
                    "unproductive_after_turns": 5,
                    "require_problem_description": True,
                },
            ),
        ],
    )
    async def test_presets_drive_effective_and_keep_advanced(self, client, org, level, expected):
        body = (
            await client.patch(
                "/handoff-settings", json={"preset_level": level}, headers=org.headers
            )
        ).json()
        assert body["preset_level"] == level and body["advanced"] == LEVEL_1
        for name, value in expected.items():
            assert body["effective"][name] == value
        if level >= 2:
            assert body["effective"]["collect_fields"] == ["name", "email"]

    async def test_advanced_is_a_partial_update_in_force_in_advanced_mode(self, client, org):
        await client.patch(
            "/handoff-settings",
            json={"advanced": {"unproductive_after_turns": 4, "collect_fields": ["email"]}},
            headers=org.headers,
        )
        body = (
            await client.patch(
                "/handoff-settings",
                json={"mode": "advanced", "advanced": {"on_frustration": False}},
                headers=org.headers,
            )
        ).json()
        expected = {
            **LEVEL_1,
            "unproductive_after_turns": 4,
            "collect_fields": ["email"],
            "on_frustration": False,
        }
        assert body["advanced"] == expected and body["effective"] == expected

    async def test_ai_only_turns_handoff_off_while_closed(self, client, org, sessionmaker):
        schedule = await client.post(
            "/office-hours",
            json={
                "name": "Weekdays",
                "iana_timezone": "UTC",
                "shifts": [
                    {
                        "day_of_week": "monday_to_friday",
                        "start_time": "09:00:00",
                        "end_time": "17:00:00",
                    }
                ],
            },
            headers=org.headers,
        )
        await client.patch(
            "/handoff-settings",
            json={
                "mode": "advanced",
                "advanced": {"outside_office_hours": "ai_only"},
                "office_hours_id": schedule.json()["id"],
            },
            headers=org.headers,
        )
        org_id = uuid.UUID(org.id)
        monday_noon = datetime(2025, 1, 13, 12, tzinfo=UTC)
        async with transaction(sessionmaker) as session:
            open_now = await service.effective_handoff(session, org_id=org_id, now=monday_noon)
            closed = await service.effective_handoff(
                session, org_id=org_id, now=monday_noon + timedelta(hours=8)
            )
        assert open_now.enabled is True and closed.enabled is False
        deleted = await client.delete(f"/office-hours/{schedule.json()['id']}", headers=org.headers)
        assert deleted.status_code == 204
        after = (await client.get("/handoff-settings", headers=org.headers)).json()
        assert after["office_hours_id"] is None  # falls back to the default (none: open)
        assert after["effective"]["enabled"] is True

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"mode": "auto"}, "mode must be one of the allowed values"),
            ({"preset_level": 4}, "preset_level must not be greater than 3"),
            ({"preset_level": -1}, "preset_level must not be less than 0"),
            ({"preset_level": None}, "preset_level cannot be null"),
            (
                {"advanced": {"unproductive_after_turns": 11}},
                "advanced.unproductive_after_turns must not be greater than 10",
            ),
            (
                {"advanced": {"unproductive_after_turns": 0}},
                "advanced.unproductive_after_turns must not be less than 1",
            ),
            ({"advanced": {"enabled": None}}, "advanced.enabled cannot be null"),
            (
                {"advanced": {"collect_fields": ["address"]}},
                "advanced.collect_fields.0 must be one of",
            ),
            (
                {"advanced": {"outside_office_hours": "never"}},
                "advanced.outside_office_hours must be one of",
            ),
        ],
    )
    async def test_invalid_bodies_name_the_field(self, client, org, body, message):
        response = await client.patch("/handoff-settings", json=body, headers=org.headers)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)


class TestTenancy:
    async def test_settings_and_schedules_stay_in_their_org(self, client, org, other_org):
        await client.patch(
            "/autopilot",
            json={"channels": {"web": {"mode": "off"}}, "topics": ["legal complaints"]},
            headers=org.headers,
        )
        await client.patch("/handoff-settings", json={"preset_level": 0}, headers=org.headers)
        schedule = await client.post(
            "/office-hours",
            json={
                "name": "Mine",
                "iana_timezone": "UTC",
                "shifts": [
                    {"day_of_week": "everyday", "start_time": "00:00:00", "end_time": "24:00:00"}
                ],
            },
            headers=org.headers,
        )
        theirs = (await client.get("/autopilot", headers=other_org.headers)).json()
        assert theirs["channels"]["web"] == {"mode": "autopilot"} and theirs["topics"] == []
        handoff = (await client.get("/handoff-settings", headers=other_org.headers)).json()
        assert handoff["preset_level"] == 1
        borrowed = await client.patch(
            "/handoff-settings",
            json={"office_hours_id": schedule.json()["id"]},
            headers=other_org.headers,
        )
        assert borrowed.status_code == 404
        assert borrowed.json()["message"] == "Office hours schedule not found"
