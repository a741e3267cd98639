"""Contact pages: every member of the team finds contacts by name or email, pages through
them, and corrects a contact's details with the Org API's rules; the Org API reads back
what they saved; another org's contact does not exist."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.dashboard.conftest import start_conversation

pytestmark = pytest.mark.usefixtures("no_ai")


async def make_contact(client, org, **contact: Any) -> str:
    response = await client.post("/contacts", json={"contact": contact}, headers=org.headers)
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


async def api_contact(client, org, contact_id: str) -> dict[str, Any]:
    response = await client.get(f"/contacts/{contact_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(html: str) -> list[str]:
    return re.findall(r'data-testid="contact" data-contact-id="([0-9a-f-]{36})"', html)


def edit_form(**fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "",
        "email": "",
        "phone": "",
        "custom_key": [],
        "custom_value": [],
    }
    form.update(fields)
    return form


class TestList:
    async def test_agents_see_the_list_and_the_nav_link(self, client, org, sign_in):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        contact_id = await make_contact(client, org, name="Vera Visitor", email="vera@x.example")
        page = await agent.get("/people")
        assert page.status_code == 200
        assert listed(page.text) == [contact_id]
        assert "Vera Visitor" in page.text and "vera@x.example" in page.text
        assert 'href="/people"' in page.text

    async def test_signed_out_visitors_are_asked_to_sign_in(self, client):
        assert (await client.get("/people")).status_code == 401

    async def test_search_finds_names_and_emails_verified_or_not(self, client, org, sign_in):
        admin = await sign_in(org)
        vera = await make_contact(client, org, name="Vera Visitor", email="vera@shop.example")
        otto = await make_contact(client, org, name="Otto Other", email="OTTO@Mail.example")
        nina = await make_contact(client, org, phone="+4915112345678")
        # A widget visitor's own (unverified) name and email.
        widget = await client.post(
            "/backend/widget/v2/contact/create-unverified",
            json={"email": "wanda@widget.example", "non_verified_name": "Wanda Widget"},
            headers={"X-Bot-Token": org.widget_token},
        )
        assert widget.status_code == 201, widget.text
        everyone = listed((await admin.get("/people")).text)
        assert len(everyone) == 4 and {vera, otto, nina} <= set(everyone)
        assert listed((await admin.get("/people", params={"q": "vera"})).text) == [vera]
        assert listed((await admin.get("/people", params={"q": "mail.EXAMPLE"})).text) == [otto]
        wanda = listed((await admin.get("/people", params={"q": "wanda w"})).text)
        assert len(wanda) == 1 and wanda[0] not in {vera, otto, nina}
        assert listed((await admin.get("/people", params={"q": "widget.example"})).text) == wanda
        none = await admin.get("/people", params={"q": "100%_"})
        assert listed(none.text) == [] and "No contact matches" in none.text

    async def test_the_list_is_paginated_newest_first(self, client, org, sign_in):
        admin = await sign_in(org)
        ids = [await make_contact(client, org, name=f"Person {i:02d}") for i in range(27)]
        first = await admin.get("/people")
        assert listed(first.text) == list(reversed(ids))[:25]
        link = re.search(r'href="([^"]+)" data-testid="contacts-next"', first.text)
        assert link is not None
        second = await admin.get(link.group(1).replace("&amp;", "&"))
        assert listed(second.text) == list(reversed(ids))[25:]
        searched = await admin.get("/people", params={"q": "person"})
        link = re.search(r'href="([^"]+)" data-testid="contacts-next"', searched.text)
        assert link is not None and "q=person" in link.group(1)


class TestContactPage:
    async def test_the_page_shows_the_contact_and_links_its_conversations(
        self, client, org, sign_in
    ):
        admin = await sign_in(org)
        session_id = await start_conversation(
            client, org, name="Carla Customer", email="c@x.example"
        )
        other_session = await start_conversation(client, org, name="Someone Else")
        session = (await client.get(f"/chat/sessions/{session_id}", headers=org.headers)).json()
        contact_id = session["contact"]["id"]
        page = await admin.get(f"/people/{contact_id}")
        assert page.status_code == 200
        assert 'data-testid="contact-title">Carla Customer<' in page.text
        assert f'href="/inbox/{session_id}"' in page.text
        assert f"#{session['ticket_number']}" in page.text
        assert f'href="/inbox/{other_session}"' not in page.text

    async def test_saving_the_form_changes_what_the_api_reads(self, client, org, sign_in):
        await sign_in(org, "first@shop.example", "First")
        agent = await sign_in(org, "second@shop.example", "Second")
        contact_id = await make_contact(
            client, org, name="Old Name", email="old@x.example", custom_data={"plan": "free"}
        )
        saved = await agent.post(
            f"/people/{contact_id}",
            edit_form(
                name=" New Name ",
                email="New@X.example",
                phone="+4915112345678",
                custom_key=["plan", "", "segments"],
                custom_value=["pro", "", "vip, beta"],
            ),
        )
        assert saved.status_code == 303 and saved.headers["location"] == f"/people/{contact_id}"
        read = await api_contact(client, org, contact_id)
        # The schema's normalisation (the domain in lower case) applies, as in the API.
        assert read["name"] == "New Name" and read["email"] == "New@x.example"
        assert read["phone_number"] == "+4915112345678"
        assert read["custom_data"] == {"plan": "pro", "segments": "vip, beta"}
        page = await agent.get(f"/people/{contact_id}")
        assert 'value="New Name"' in page.text and 'value="vip, beta"' in page.text
        # Emptied fields clear the values, as `null` does in the API.
        cleared = await agent.post(f"/people/{contact_id}", edit_form(name="Only Name"))
        assert cleared.status_code == 303
        read = await api_contact(client, org, contact_id)
        assert read["name"] == "Only Name" and read["email"] is None
        assert read["phone_number"] is None and read["custom_data"] == {}

    @pytest.mark.parametrize(
        ("fields", "status", "message"),
        [
            ({"email": "not-an-email"}, 400, "email must be a valid email address"),
            ({"phone": "0151 123"}, 400, "phone has an invalid format"),
            ({"name": "x" * 201}, 400, "name must be at most 200 characters"),
            (
                {"custom_key": ["", "k"], "custom_value": ["v", "w"]},
                400,
                "custom_data keys must not be empty",
            ),
            (
                {"custom_key": ["k", "k"], "custom_value": ["1", "2"]},
                400,
                "custom_data key 'k' is given twice",
            ),
            (
                {"custom_key": ["k"], "custom_value": ["v" * 1001]},
                400,
                "value of 'k' must be at most 1000 characters",
            ),
            ({"email": "taken@x.example"}, 409, "A contact with this email already exists"),
        ],
    )
    async def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(
        self, client, org, sign_in, fields, status, message
    ):
        admin = await sign_in(org)
        await make_contact(client, org, email="taken@x.example")
        contact_id = await make_contact(client, org, name="Kept", email="kept@x.example")
        response = await admin.post(
            f"/people/{contact_id}", edit_form(**{"name": "Kept", **fields})
        )
        assert response.status_code == status
        assert message in html.unescape(response.text)
        read = await api_contact(client, org, contact_id)
        assert read["name"] == "Kept" and read["email"] == "kept@x.example"

    async def test_another_orgs_contact_is_not_found(self, client, org, other_org, sign_in):
        admin = await sign_in(org)
        theirs = await make_contact(client, other_org, name="Secret Sam")
        page = await admin.get(f"/people/{theirs}")
        assert page.status_code == 404 and "Secret Sam" not in page.text
        saved = await admin.post(f"/people/{theirs}", edit_form(name="Mine now"))
        assert saved.status_code == 404
        assert (await api_contact(client, other_org, theirs))["name"] == "Secret Sam"
        assert theirs not in (await admin.get("/people")).text
        assert (await admin.get("/people/not-a-uuid")).status_code == 404

    async def test_a_form_without_the_csrf_token_is_refused(self, client, org, sign_in):
        admin = await sign_in(org)
        contact_id = await make_contact(client, org, name="Kept")
        response = await admin.post(f"/people/{contact_id}", edit_form(name="Changed"), csrf="")
        assert response.status_code == 403
        assert (await api_contact(client, org, contact_id))["name"] == "Kept"
