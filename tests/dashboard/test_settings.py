"""The settings pages for the AI's behaviour (admins only): each form changes what the Org API
then reads back; a refused form is a 400 page saying why, keeping what was typed and changing
nothing; agents, CSRF-less posts and other orgs' ids are refused."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import Person
from tests.factories import OrgFixture

PAGES = [
    "/settings/profile",
    "/settings/training",
    "/settings/training/new",
    "/settings/autopilot",
    "/settings/handoff",
    "/settings/office-hours",
    "/settings/tags",
]
VOUCHERS = {
    "title": "Do you sell gift vouchers?",
    "content": "Yes: gift vouchers from 10 to 200 EUR are sold in the shop under Vouchers.",
}


@pytest.fixture
async def admin(org: OrgFixture, sign_in: Any) -> Person:
    person: Person = await sign_in(org, "owner@shop.example", "Owner")
    return person


@pytest.fixture
async def agent(org: OrgFixture, admin: Person, sign_in: Any) -> Person:
    """Signs in after the admin, so joins as an agent."""
    person: Person = await sign_in(org, "grace@shop.example", "Grace")
    return person


async def api(
    client: httpx.AsyncClient, org: OrgFixture, method: str, path: str, **kwargs: Any
) -> Any:
    response = await client.request(method, path, headers=org.headers, **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def notice(page: httpx.Response) -> str | None:
    found = re.search(r'data-testid="notice">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else None


def form_error(page: httpx.Response) -> str | None:
    found = re.search(r'data-testid="form-error">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else None


async def follow(person: Person, response: httpx.Response) -> httpx.Response:
    """A form's 303, then the page it leads to."""
    assert response.status_code == 303, response.text
    page = await person.get(response.headers["location"])
    assert page.status_code == 200, page.text
    return page


def training_form(**fields: Any) -> dict[str, Any]:
    return {**VOUCHERS, "type": "SCENARIO_SPECIFIC", "is_draft": "true", **fields}


async def create_training(person: Person, **fields: Any) -> str:
    response = await person.client.post(
        "/settings/training", data={**training_form(**fields), "csrf_token": person.csrf}
    )
    assert response.status_code == 303, response.text
    found = re.match(r"^/settings/training/([0-9a-f-]{36})\?", response.headers["location"])
    assert found is not None, response.headers["location"]
    return found.group(1)


async def post_form(person: Person, path: str, data: dict[str, Any]) -> httpx.Response:
    """A form with repeated fields (lists) and the CSRF token."""
    return await person.client.post(path, data={**data, "csrf_token": person.csrf})


# --- access -------------------------------------------------------------------------------


class TestAccess:
    @pytest.mark.parametrize("path", PAGES)
    async def test_each_page_renders_for_an_admin(self, admin, path):
        page = await admin.get(path)
        assert page.status_code == 200, page.text
        assert 'data-testid="settings-nav"' in page.text
        assert 'href="/settings/profile" aria-current="page">Settings</a>' in page.text

    @pytest.mark.parametrize("path", [*PAGES, "/settings"])
    async def test_each_page_refuses_an_agent(self, agent, path):
        page = await agent.get(path)
        assert page.status_code == 403
        assert "Only an admin" in page.text

    async def test_only_admins_see_the_settings_link(self, admin, agent):
        assert ">Settings</a>" in (await admin.get("/inbox")).text
        assert ">Settings</a>" not in (await agent.get("/inbox")).text

    async def test_settings_opens_the_ai_profile(self, admin):
        response = await admin.get("/settings")
        assert response.status_code == 303
        assert response.headers["location"] == "/settings/profile"

    async def test_signed_out_visitors_are_asked_to_sign_in(self, client):
        assert (await client.get("/settings/training")).status_code == 401

    async def test_an_agents_post_is_refused_and_changes_nothing(self, client, org, agent):
        response = await agent.post("/settings/profile", {"ai_instructions": "Be rude."})
        assert response.status_code == 403
        response = await agent.post("/settings/training", training_form())
        assert response.status_code == 403
        assert (await api(client, org, "GET", "/org"))["ai_instructions"] is None
        assert (await api(client, org, "GET", "/training"))["items"] == []


class TestCsrf:
    FORMS = [
        ("/settings/profile", {"ai_instructions": "Be brief."}),
        ("/settings/training", training_form()),
        ("/settings/autopilot", {"mode_web": "off", "topics": "legal complaints"}),
        ("/settings/handoff", {"mode": "preset", "preset_level": "0"}),
        (
            "/settings/office-hours",
            {
                "name": "Hours",
                "iana_timezone": "UTC",
                "shift_day": "everyday",
                "shift_start": "09:00",
                "shift_end": "17:00",
            },
        ),
        ("/settings/tags", {"tag_name": "Billing"}),
    ]

    @pytest.mark.parametrize(("path", "form"), FORMS)
    async def test_a_post_without_the_token_is_refused_and_changes_nothing(
        self, client, org, admin, path, form
    ):
        response = await admin.post(path, form, csrf="")
        assert response.status_code == 403
        assert "This form has expired" in response.text
        forged = await admin.post(path, form, csrf="not-the-token")
        assert forged.status_code == 403
        assert (await api(client, org, "GET", "/org"))["ai_instructions"] is None
        assert (await api(client, org, "GET", "/training"))["items"] == []
        autopilot = await api(client, org, "GET", "/autopilot")
        assert autopilot["updated_at"] is None and autopilot["topics"] == []
        assert (await api(client, org, "GET", "/handoff-settings"))["updated_at"] is None
        assert await api(client, org, "GET", "/office-hours") == []
        assert await api(client, org, "GET", "/tags") == []

    async def test_deleting_without_the_token_is_refused(self, client, org, admin):
        training_id = await create_training(admin)
        response = await admin.post(f"/settings/training/{training_id}/delete", csrf="")
        assert response.status_code == 403
        await api(client, org, "GET", f"/training/{training_id}")


# --- AI profile ---------------------------------------------------------------------------


class TestProfile:
    async def test_an_inherited_profile_shows_the_partners_default(self, client, org, admin):
        await client.patch(
            "/partner/v1/me",
            json={"default_ai_instructions": "You are <Acme>'s helpful assistant."},
            headers=org.partner.headers,
        )
        page = await admin.get("/settings/profile")
        assert "inherits the partner" in page.text
        assert "You are &lt;Acme&gt;&#39;s helpful assistant." in page.text
        assert 'data-testid="inherit-profile"' not in page.text

    async def test_saving_sets_the_orgs_instructions(self, client, org, admin):
        text = "You are Acme's assistant.\r\nAnswer in two sentences <at most>."
        page = await follow(admin, await admin.post("/settings/profile", {"ai_instructions": text}))
        assert notice(page) == NOTICE_SAVED
        assert (await api(client, org, "GET", "/org"))["ai_instructions"] == text.replace(
            "\r\n", "\n"
        )
        assert "uses <strong>its own profile</strong>" in page.text
        assert "Answer in two sentences &lt;at most&gt;." in page.text

    async def test_clearing_inherits_the_partner_default_again(self, client, org, admin):
        await admin.post("/settings/profile", {"ai_instructions": "Be brief."})
        response = await admin.post(
            "/settings/profile", {"ai_instructions": "Be brief.", "action": "inherit"}
        )
        page = await follow(admin, response)
        assert "partner's default" in (notice(page) or "")
        assert (await api(client, org, "GET", "/org"))["ai_instructions"] is None

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("x" * 20_001, "The AI profile must be at most 20000 characters"),
            ("   ", "The AI profile is empty"),
            ("Be\x00 brief", "The AI profile must not contain NUL characters"),
        ],
    )
    async def test_invalid_text_is_refused_kept_and_changes_nothing(
        self, client, org, admin, text, message
    ):
        await api(client, org, "PATCH", "/org", json={"ai_instructions": "Keep me."})
        page = await admin.post("/settings/profile", {"ai_instructions": text})
        assert page.status_code == 400
        assert (form_error(page) or "").startswith(message)
        if text.strip() and "\x00" not in text:
            assert f">{text}</textarea>" in page.text
        assert (await api(client, org, "GET", "/org"))["ai_instructions"] == "Keep me."


NOTICE_SAVED = "The AI profile is saved: the AI uses it from the next message."


# --- training -----------------------------------------------------------------------------


class TestTrainingCreate:
    async def test_a_draft_is_stored_with_its_channels_and_segments(self, client, org, admin):
        response = await post_form(
            admin,
            "/settings/training",
            training_form(channels=["web", "email"], segments=" vip, beta ,, "),
        )
        page = await follow(admin, response)
        assert "Saved as a draft" in (notice(page) or "")
        training_id = response.headers["location"].split("/")[-1].split("?")[0]
        item = await api(client, org, "GET", f"/training/{training_id}")
        assert item["is_draft"] is True and item["current_version"] is None
        assert item["title"] == VOUCHERS["title"] and item["content"] == VOUCHERS["content"]
        assert item["restricted_to_channels"] == ["web", "email"]
        assert item["restricted_to_segments"] == ["vip", "beta"]
        listing = await admin.get("/settings/training")
        assert VOUCHERS["title"] in listing.text
        assert "Draft, never published" in listing.text
        assert "Website widget, Email" in listing.text

    async def test_save_and_publish_makes_version_one_live(self, client, org, admin):
        training_id = await create_training(
            admin, is_draft="false", type="BEHAVIORAL", start_time="2030-01-02T03:04"
        )
        item = await api(client, org, "GET", f"/training/{training_id}")
        assert item["is_draft"] is False and item["current_version"] == 1
        assert item["type"] == "BEHAVIORAL"
        assert item["start_time"] == "2030-01-02T03:04:00.000Z"
        assert item["restricted_to_channels"] == []
        page = await admin.get(f"/settings/training/{training_id}")
        assert 'value="2030-01-02T03:04"' in page.text

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"title": "Hi"}, "The title must be at least 3 characters"),
            ({"content": "Too short"}, "The content must be at least 10 characters"),
            ({"type": "FRIENDLY"}, "The type must be one of the allowed values"),
            ({"channels": ["web", "carrier-pigeon"]}, "Channel 2 must be one of the allowed"),
            (
                {"start_time": "2030-01-02T10:00", "end_time": "2030-01-02T09:00"},
                "“Active until” must be after “Active from”",
            ),
            ({"start_time": "tomorrow"}, "“Active from” must be an ISO 8601 timestamp"),
        ],
    )
    async def test_invalid_input_is_refused_kept_and_creates_nothing(
        self, client, org, admin, fields, message
    ):
        page = await post_form(admin, "/settings/training", training_form(**fields))
        assert page.status_code == 400
        assert (form_error(page) or "").startswith(message), form_error(page)
        assert html.escape(fields.get("content", VOUCHERS["content"]), quote=False) in page.text
        assert (await api(client, org, "GET", "/training"))["items"] == []


class TestTrainingEdit:
    async def test_edits_saved_as_a_draft_leave_the_live_version_serving(self, client, org, admin):
        training_id = await create_training(admin, is_draft="false")
        new_content = "Yes: gift vouchers from 5 to 500 EUR, sold online and in the shop."
        response = await post_form(
            admin,
            f"/settings/training/{training_id}",
            training_form(content=new_content, channels=["api"], is_draft="true"),
        )
        page = await follow(admin, response)
        assert "with unpublished edits" in page.text
        assert new_content in page.text  # the editor shows the draft
        item = await api(client, org, "GET", f"/training/{training_id}")
        assert item["content"] == VOUCHERS["content"] and item["current_version"] == 1
        assert item["draft_content"] == new_content
        # Channels apply at once, as with PUT /training/{id}.
        assert item["restricted_to_channels"] == ["api"]

        response = await post_form(
            admin,
            f"/settings/training/{training_id}",
            training_form(content=new_content, is_draft="false"),
        )
        assert "Published" in (notice(await follow(admin, response)) or "")
        item = await api(client, org, "GET", f"/training/{training_id}")
        assert item["content"] == new_content and item["current_version"] == 2
        assert item["draft_content"] is None
        assert item["restricted_to_channels"] == []

    async def test_publish_and_unpublish(self, client, org, admin):
        training_id = await create_training(admin)
        page = await follow(admin, await admin.post(f"/settings/training/{training_id}/publish"))
        assert "Published" in (notice(page) or "")
        assert page.url.path == "/settings/training"
        item = await api(client, org, "GET", f"/training/{training_id}")
        assert item["is_draft"] is False and item["current_version"] == 1

        response = await admin.post(
            f"/settings/training/{training_id}/unpublish", {"back": "entry"}
        )
        page = await follow(admin, response)
        assert page.url.path == f"/settings/training/{training_id}"
        assert "Unpublished (was version 1)" in page.text
        assert (await api(client, org, "GET", f"/training/{training_id}"))["is_draft"] is True

    async def test_the_list_filters_by_state(self, admin):
        await create_training(admin, title="Draft entry")
        await create_training(admin, title="Live entry", is_draft="false")
        drafts = await admin.get("/settings/training", params={"status": "draft"})
        assert "Draft entry" in drafts.text and "Live entry" not in drafts.text
        live = await admin.get("/settings/training", params={"status": "published"})
        assert "Live entry" in live.text and "Draft entry" not in live.text
        found = await admin.get("/settings/training", params={"q": "live"})
        assert "Live entry" in found.text and "Draft entry" not in found.text

    async def test_delete(self, client, org, admin):
        training_id = await create_training(admin)
        page = await follow(admin, await admin.post(f"/settings/training/{training_id}/delete"))
        assert notice(page) == "The training entry is deleted."
        response = await client.get(f"/training/{training_id}", headers=org.headers)
        assert response.status_code == 404

    async def test_an_invalid_edit_is_refused_kept_and_changes_nothing(self, client, org, admin):
        training_id = await create_training(admin, is_draft="false", channels=["web"])
        before = await api(client, org, "GET", f"/training/{training_id}")
        page = await post_form(
            admin,
            f"/settings/training/{training_id}",
            training_form(
                content="A new answer that is long enough.",
                channels=["email"],
                start_time="2030-01-02T10:00",
                end_time="2030-01-01T10:00",
                is_draft="false",
            ),
        )
        assert page.status_code == 400
        assert form_error(page) == "“Active until” must be after “Active from”"
        assert "A new answer that is long enough." in page.text
        assert await api(client, org, "GET", f"/training/{training_id}") == before


class TestTrainingTenancy:
    @pytest.mark.parametrize(
        ("method", "suffix"),
        [
            ("GET", ""),
            ("POST", ""),
            ("POST", "/publish"),
            ("POST", "/unpublish"),
            ("POST", "/delete"),
        ],
    )
    async def test_another_orgs_entry_is_not_found(
        self, client, org, other_org, admin, method, suffix
    ):
        theirs = await api(
            client, other_org, "POST", "/training", json={**VOUCHERS, "is_draft": True}
        )
        path = f"/settings/training/{theirs['id']}{suffix}"
        if method == "GET":
            response = await admin.get(path)
        else:
            response = await post_form(admin, path, training_form(is_draft="false"))
        assert response.status_code == 404
        assert "Training not found" in response.text
        assert await api(client, other_org, "GET", f"/training/{theirs['id']}") == theirs

    async def test_a_malformed_id_is_not_found(self, admin):
        assert (await admin.get("/settings/training/not-an-id")).status_code == 404


# --- autopilot ----------------------------------------------------------------------------


class TestAutopilot:
    async def test_channel_modes_and_topics_are_saved(self, client, org, admin):
        form = {
            "mode_web": "off",
            "mode_email": "assist",
            "mode_api": "autopilot",
            "topics": (
                "refund requests above 500 EUR\r\n\r\n  legal complaints \r\nLegal complaints"
            ),
        }
        page = await follow(admin, await admin.post("/settings/autopilot", form))
        assert "Autopilot settings saved" in (notice(page) or "")
        autopilot = await api(client, org, "GET", "/autopilot")
        assert autopilot["channels"]["web"]["mode"] == "off"
        assert autopilot["channels"]["email"]["mode"] == "assist"
        assert autopilot["channels"]["sms"]["mode"] == "autopilot"
        assert autopilot["topics"] == ["refund requests above 500 EUR", "legal complaints"]
        assert "refund requests above 500 EUR\nlegal complaints</textarea>" in page.text

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            (
                {"mode_phone_voice": "assist", "topics": "legal complaints"},
                "Channels must not use assist mode on phone_voice (a voice channel)",
            ),
            ({"mode_web": "sometimes", "topics": ""}, "The mode for web must be one of"),
            ({"topics": "legal complaints\nab"}, "Topic 2 must be at least 3 characters"),
            (
                {"topics": "\n".join(f"topic number {n}" for n in range(101))},
                "Topics can have at most 100 entries",
            ),
        ],
    )
    async def test_invalid_input_is_refused_kept_and_changes_nothing(
        self, client, org, admin, form, message
    ):
        await api(client, org, "PATCH", "/autopilot", json={"topics": ["pricing questions"]})
        before = await api(client, org, "GET", "/autopilot")
        page = await admin.post("/settings/autopilot", form)
        assert page.status_code == 400
        assert (form_error(page) or "").startswith(message), form_error(page)
        if form["topics"]:
            assert form["topics"].split("\n")[0] in page.text
        assert await api(client, org, "GET", "/autopilot") == before


# --- handoff ------------------------------------------------------------------------------


def handoff_form(**fields: Any) -> dict[str, Any]:
    return {
        "mode": "preset",
        "preset_level": "1",
        "enabled": "on",
        "on_frustration": "on",
        "on_unproductive_conversation": "on",
        "unproductive_after_turns": "1",
        "on_human_request": "on",
        "outside_office_hours": "handoff",
        "office_hours_id": "",
        **fields,
    }


class TestHandoff:
    async def test_a_preset_level_is_saved_and_in_force(self, client, org, admin):
        page = await follow(
            admin, await post_form(admin, "/settings/handoff", handoff_form(preset_level="2"))
        )
        assert notice(page) == "Handoff settings saved."
        settings = await api(client, org, "GET", "/handoff-settings")
        assert settings["mode"] == "preset" and settings["preset_level"] == 2
        assert settings["effective"]["unproductive_after_turns"] == 3
        assert 'value="2" checked' in page.text

    async def test_advanced_toggles_and_the_schedule_are_saved(self, client, org, admin):
        schedule = await api(
            client,
            org,
            "POST",
            "/office-hours",
            json={
                "name": "Support",
                "iana_timezone": "UTC",
                "shifts": [
                    {"day_of_week": "everyday", "start_time": "00:00:00", "end_time": "24:00:00"}
                ],
            },
        )
        form = handoff_form(
            mode="advanced",
            unproductive_after_turns="4",
            collect_fields=["email", "phone_number"],
            outside_office_hours="ai_only",
            office_hours_id=schedule["id"],
            require_problem_description="on",
        )
        del form["on_frustration"]  # unticked
        await follow(admin, await post_form(admin, "/settings/handoff", form))
        settings = await api(client, org, "GET", "/handoff-settings")
        assert settings["mode"] == "advanced"
        assert settings["office_hours_id"] == schedule["id"]
        assert settings["advanced"] == {
            "enabled": True,
            "on_frustration": False,
            "on_unproductive_conversation": True,
            "unproductive_after_turns": 4,
            "on_human_request": True,
            "require_problem_description": True,
            "collect_fields": ["email", "phone_number"],
            "outside_office_hours": "ai_only",
        }
        assert settings["effective"] == settings["advanced"]

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"unproductive_after_turns": "11"}, "Replies without progress must not be greater"),
            ({"unproductive_after_turns": "many"}, "Replies without progress must be an integer"),
            ({"preset_level": "4"}, "The preset level must not be greater than 3"),
            ({"mode": "chaos"}, "The mode must be one of the allowed values"),
            ({"collect_fields": ["shoe_size"]}, "Detail to collect 1 must be one of"),
        ],
    )
    async def test_invalid_input_is_refused_kept_and_changes_nothing(
        self, client, org, admin, fields, message
    ):
        form = handoff_form(**{"mode": "advanced", "on_frustration": "", **fields})
        page = await post_form(admin, "/settings/handoff", form)
        assert page.status_code == 400
        assert (form_error(page) or "").startswith(message), form_error(page)
        # What was typed is shown, not what is stored.
        assert 'data-testid="toggle-on_frustration"' in page.text
        assert 'checked data-testid="toggle-on_frustration"' not in page.text
        if "mode" not in fields:
            assert 'value="advanced" checked' in page.text
        assert (await api(client, org, "GET", "/handoff-settings"))["updated_at"] is None

    async def test_another_orgs_schedule_is_not_found(self, client, org, other_org, admin):
        theirs = await api(
            client,
            other_org,
            "POST",
            "/office-hours",
            json={
                "name": "Theirs",
                "iana_timezone": "UTC",
                "shifts": [
                    {"day_of_week": "everyday", "start_time": "09:00:00", "end_time": "17:00:00"}
                ],
            },
        )
        response = await post_form(
            admin, "/settings/handoff", handoff_form(office_hours_id=theirs["id"])
        )
        assert response.status_code == 404
        assert (await api(client, org, "GET", "/handoff-settings"))["updated_at"] is None


# --- office hours -------------------------------------------------------------------------


def schedule_form(rows: list[tuple[str, str, str, str]], **fields: Any) -> dict[str, Any]:
    """`rows`: (id, day, start, end) per shift row, as the form posts them."""
    return {
        "name": "Business hours",
        "iana_timezone": "Europe/Berlin",
        "shift_id": [row[0] for row in rows],
        "shift_day": [row[1] for row in rows],
        "shift_start": [row[2] for row in rows],
        "shift_end": [row[3] for row in rows],
        **fields,
    }


class TestOfficeHours:
    async def test_a_schedule_is_created_with_its_shifts(self, client, org, admin):
        form = schedule_form(
            [
                ("", "monday_to_friday", "9:00", "17:30"),
                ("", "saturday", "10:00:00", "24:00"),
                ("", "", "", ""),
            ]
        )
        page = await follow(admin, await post_form(admin, "/settings/office-hours", form))
        assert notice(page) == "Schedule created."
        [schedule] = await api(client, org, "GET", "/office-hours")
        assert schedule["name"] == "Business hours" and schedule["is_default"] is True
        assert schedule["iana_timezone"] == "Europe/Berlin"
        assert [(s["day_of_week"], s["start_time"], s["end_time"]) for s in schedule["shifts"]] == [
            ("monday_to_friday", "09:00:00", "17:30:00"),
            ("saturday", "10:00:00", "24:00:00"),
        ]
        assert "Monday to Friday 09:00\u201317:30" in page.text

    async def test_a_schedule_is_replaced_keeping_the_shifts_it_names(self, client, org, admin):
        await post_form(
            admin,
            "/settings/office-hours",
            schedule_form(
                [("", "monday_to_friday", "09:00", "17:00"), ("", "saturday", "10:00", "14:00")]
            ),
        )
        [schedule] = await api(client, org, "GET", "/office-hours")
        first = schedule["shifts"][0]["id"]
        edit = await admin.get(f"/settings/office-hours/{schedule['id']}")
        assert edit.status_code == 200 and f'value="{first}"' in edit.text
        form = schedule_form(
            [(first, "monday_to_friday", "08:00", "16:00"), ("", "", "", "")],
            name="Winter hours",
            iana_timezone="UTC",
        )
        page = await follow(
            admin, await post_form(admin, f"/settings/office-hours/{schedule['id']}", form)
        )
        assert notice(page) == "Schedule saved."
        [schedule] = await api(client, org, "GET", "/office-hours")
        assert schedule["name"] == "Winter hours" and schedule["iana_timezone"] == "UTC"
        assert [(s["id"], s["start_time"]) for s in schedule["shifts"]] == [(first, "08:00:00")]

    async def test_another_schedule_can_become_the_default(self, client, org, admin):
        rows = [("", "everyday", "09:00", "17:00")]
        await post_form(admin, "/settings/office-hours", schedule_form(rows, name="First"))
        await post_form(
            admin, "/settings/office-hours", schedule_form(rows, name="Second", is_default="on")
        )
        schedules = {
            s["name"]: s["is_default"] for s in await api(client, org, "GET", "/office-hours")
        }
        assert schedules == {"First": False, "Second": True}

    @pytest.mark.parametrize(
        ("rows", "fields", "message"),
        [
            (
                [("", "everyday", "09:00", "17:00")],
                {"iana_timezone": "Mars/Olympus"},
                "The time zone must be an IANA time zone such as America/New_York",
            ),
            (
                [("", "everyday", "17:00", "09:00")],
                {},
                "Shift 1's end must be after its start (split a shift past midnight in two)",
            ),
            (
                [("", "everyday", "09:00", "17:00"), ("", "sunday", "25:00", "26:00")],
                {},
                "Shift 2's start must be a time of day such as 09:00 or 17:30",
            ),
            ([("", "", "", "")], {}, "The schedule must have at least 1 entry"),
            (
                [("", "someday", "09:00", "17:00")],
                {},
                "Shift 1's day must be one of the allowed values",
            ),
            ([("", "everyday", "09:00", "17:00")], {"name": "  "}, "The name must not be empty"),
        ],
    )
    async def test_invalid_input_is_refused_kept_and_creates_nothing(
        self, client, org, admin, rows, fields, message
    ):
        form = schedule_form(rows, **{"name": "Kept name", **fields})
        page = await post_form(admin, "/settings/office-hours", form)
        assert page.status_code == 400
        assert form_error(page) == message
        assert f'value="{html.escape(form["name"])}"' in page.text
        assert await api(client, org, "GET", "/office-hours") == []

    async def test_delete(self, client, org, admin):
        await post_form(
            admin, "/settings/office-hours", schedule_form([("", "everyday", "09:00", "17:00")])
        )
        [schedule] = await api(client, org, "GET", "/office-hours")
        page = await follow(
            admin, await admin.post(f"/settings/office-hours/{schedule['id']}/delete")
        )
        assert notice(page) == "Schedule deleted."
        assert await api(client, org, "GET", "/office-hours") == []

    @pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", ""), ("POST", "/delete")])
    async def test_another_orgs_schedule_is_not_found(
        self, client, org, other_org, admin, method, suffix
    ):
        theirs = await api(
            client,
            other_org,
            "POST",
            "/office-hours",
            json={
                "name": "Theirs",
                "iana_timezone": "UTC",
                "shifts": [
                    {"day_of_week": "everyday", "start_time": "09:00:00", "end_time": "17:00:00"}
                ],
            },
        )
        path = f"/settings/office-hours/{theirs['id']}{suffix}"
        if method == "GET":
            response = await admin.get(path)
        else:
            response = await post_form(
                admin, path, schedule_form([("", "everyday", "01:00", "02:00")], name="Mine now")
            )
        assert response.status_code == 404
        assert await api(client, other_org, "GET", f"/office-hours/{theirs['id']}") == theirs


# --- tags ---------------------------------------------------------------------------------


class TestTags:
    async def test_a_tag_is_created_updated_and_deleted(self, client, org, admin):
        form = {
            "tag_name": "Billing",
            "description": "Invoices & refunds",
            "exclude_from_auto_tagging": "on",
        }
        page = await follow(admin, await admin.post("/settings/tags", form))
        assert notice(page) == "Tag saved."
        [tag] = await api(client, org, "GET", "/tags")
        assert (tag["tag_name"], tag["description"], tag["exclude_from_auto_tagging"]) == (
            "Billing",
            "Invoices & refunds",
            True,
        )
        assert 'value="Invoices &amp; refunds"' in page.text

        await follow(
            admin, await admin.post("/settings/tags", {"tag_name": "billing", "description": ""})
        )
        [tag] = await api(client, org, "GET", "/tags")
        assert (tag["tag_name"], tag["description"], tag["exclude_from_auto_tagging"]) == (
            "billing",
            None,
            False,
        )

        page = await follow(
            admin, await admin.post("/settings/tags/delete", {"tag_name": "BILLING"})
        )
        assert "Tag deleted" in (notice(page) or "")
        assert await api(client, org, "GET", "/tags") == []

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            (
                {"tag_name": "Billing", "description": "x" * 161},
                "The description must be at most 160",
            ),
            ({"tag_name": "", "description": "Typed"}, "The tag name must not be empty"),
            ({"tag_name": "y" * 51, "description": "Typed"}, "The tag name must be at most 50"),
        ],
    )
    async def test_invalid_input_is_refused_kept_and_changes_nothing(
        self, client, org, admin, form, message
    ):
        await api(client, org, "PUT", "/tags", json={"tag_name": "Billing", "description": "Old"})
        before = await api(client, org, "GET", "/tags")
        page = await admin.post("/settings/tags", form)
        assert page.status_code == 400
        assert (form_error(page) or "").startswith(message), form_error(page)
        assert f'value="{form["description"]}"' in page.text
        assert await api(client, org, "GET", "/tags") == before

    async def test_deleting_an_unknown_tag_is_not_found(self, admin):
        response = await admin.post("/settings/tags/delete", {"tag_name": "Nope"})
        assert response.status_code == 404

    async def test_another_orgs_tag_cannot_be_deleted(self, client, org, other_org, admin):
        await api(client, other_org, "PUT", "/tags", json={"tag_name": "Secret"})
        response = await admin.post("/settings/tags/delete", {"tag_name": "Secret"})
        assert response.status_code == 404
        assert [t["tag_name"] for t in await api(client, other_org, "GET", "/tags")] == ["Secret"]
