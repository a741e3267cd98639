"""The test console: the org's AI answers as a visitor on a channel would get it, with its
sources and debug record, and no conversation is created."""

from __future__ import annotations

import sqlalchemy as sa

from deskpilot.models import ChatEvent, ChatSession

VOUCHERS = {
    "title": "Do you sell gift vouchers?",
    "content": "Yes: gift vouchers from 10 to 200 EUR are sold in the shop under Vouchers.",
}


async def rows(sessionmaker, model) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


class TestConsole:
    async def test_the_page_offers_every_channel(self, org, sign_in):
        ann = await sign_in(org)
        page = await ann.get("/console")
        assert page.status_code == 200
        assert '<option value="web" selected>' in page.text and 'value="whatsapp"' in page.text

    async def test_a_published_scenario_changes_the_answer_and_nothing_is_stored(
        self, client, org, sign_in, sessionmaker
    ):
        ann = await sign_in(org)
        question = {"question": "Do you sell gift vouchers?", "channel": "web"}
        before = await ann.post("/console", question, htmx=True)
        assert before.status_code == 200, before.text
        assert "10 to 200 EUR" not in before.text and "<html" not in before.text
        created = await client.post("/training", json=VOUCHERS, headers=org.headers)
        assert created.status_code == 201, created.text
        after = await ann.post("/console", question)
        assert after.status_code == 200 and "<html" in after.text
        assert 'data-testid="console-decision">answer<' in after.text
        assert "10 to 200 EUR" in after.text
        debug = after.text.split('data-testid="debug"', 1)[1]
        assert "Do you sell gift vouchers?" in debug and "yes" in debug
        assert await rows(sessionmaker, ChatSession) == 0
        assert await rows(sessionmaker, ChatEvent) == 0

    async def test_a_scenario_restricted_to_email_is_not_used_on_web(self, client, org, sign_in):
        ann = await sign_in(org)
        body = {**VOUCHERS, "restricted_to_channels": ["email"]}
        assert (await client.post("/training", json=body, headers=org.headers)).status_code == 201
        web = await ann.post("/console", {"question": VOUCHERS["title"], "channel": "web"})
        email = await ann.post("/console", {"question": VOUCHERS["title"], "channel": "email"})
        assert "10 to 200 EUR" not in web.text and "10 to 200 EUR" in email.text

    async def test_an_empty_question_or_unknown_channel_is_400(self, org, sign_in):
        ann = await sign_in(org)
        empty = await ann.post("/console", {"question": "  ", "channel": "web"})
        assert empty.status_code == 400 and "question must not be empty" in empty.text
        channel = await ann.post("/console", {"question": "Hi", "channel": "pigeon"})
        assert channel.status_code == 400
