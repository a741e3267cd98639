"""`/widget-settings` [deskpilot]: the org's widget greeting, suggested questions and look."""

from __future__ import annotations

import pytest

from tests.factories import make_org


async def test_defaults_until_first_changed(client, org) -> None:
    response = await client.get("/widget-settings", headers=org.headers)
    assert response.status_code == 200
    assert response.json() == {
        "initial_questions": [],
        "initial_messages": [],
        "bot_name": None,
        "bot_avatar_url": None,
        "primary_color": None,
        "updated_at": None,
    }


async def test_partial_updates_keep_other_fields(client, org) -> None:
    first = await client.patch(
        "/widget-settings",
        json={
            "initial_questions": [" Where is my order? ", "Where is my order?"],
            "bot_name": "Paige",
        },
        headers=org.headers,
    )
    assert first.status_code == 200, first.text
    assert first.json()["initial_questions"] == ["Where is my order?"]
    second = await client.patch(
        "/widget-settings", json={"primary_color": "#AABBCC"}, headers=org.headers
    )
    body = second.json()
    assert body["bot_name"] == "Paige"
    assert body["initial_questions"] == ["Where is my order?"]
    assert body["primary_color"] == "#aabbcc"
    assert body["updated_at"] is not None
    cleared = await client.patch("/widget-settings", json={"bot_name": None}, headers=org.headers)
    assert cleared.json()["bot_name"] is None
    assert cleared.json()["primary_color"] == "#aabbcc"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"primary_color": "red"}, "primary_color"),
        ({"bot_avatar_url": "http://cdn.example.com/a.png"}, "https"),
        ({"initial_questions": None}, "initial_questions cannot be null"),
        ({"initial_questions": ["q"] * 7}, "initial_questions"),
        ({"initial_messages": [""]}, "initial_messages"),
        ({"bot_name": "x" * 61}, "bot_name"),
    ],
)
async def test_bad_input_is_400_and_changes_nothing(client, org, body, message) -> None:
    await client.patch("/widget-settings", json={"bot_name": "Paige"}, headers=org.headers)
    response = await client.patch("/widget-settings", json=body, headers=org.headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert (await client.get("/widget-settings", headers=org.headers)).json()["bot_name"] == "Paige"


async def test_one_orgs_settings_are_not_anothers(client, org) -> None:
    other = await make_org(client, org.partner, name="Other")
    await client.patch("/widget-settings", json={"bot_name": "Paige"}, headers=org.headers)
    theirs = await client.get("/widget-settings", headers=other.headers)
    assert theirs.json()["bot_name"] is None
