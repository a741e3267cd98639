"""The agent with an OpenAI-compatible provider (a real HTTP server on loopback playing a
script): the prompt carries the profile, the BEHAVIORAL training in force and the fenced
passages; the reply keeps its citations; a failing provider means a clean handoff."""

from __future__ import annotations

import pytest

from tests.agent.conftest import PROFILE
from tests.llm.chat_server import Step

pytestmark = pytest.mark.usefixtures("shop")

TONE = "Always thank the customer for choosing Acme Outdoor before answering."


async def behavioral(client, org, **body):
    response = await client.post(
        "/training",
        json={"title": "Tone", "content": TONE, "type": "BEHAVIORAL", **body},
        headers=org.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def system_prompt(chat_server) -> str:
    return chat_server.requests[-1]["messages"][0]["content"]


async def test_the_prompt_carries_profile_instructions_and_fenced_passages(
    client, provider_ask, chat_server, shop
):
    await behavioral(client, shop)
    chat_server.plan(Step(text="Thanks for choosing Acme Outdoor! You have 30 days [1]."))
    outcome = await provider_ask(shop, "How long do I have to return an item?", channel="web")
    system = system_prompt(chat_server)
    assert PROFILE in system
    assert f"- {TONE}" in system
    assert "BEGIN PASSAGE [1]" in system and "within 30 days" in system
    assert outcome.decision == "answer"
    assert outcome.reply.startswith("Thanks for choosing Acme Outdoor!")
    assert outcome.citations[0].url.endswith("/help/returns.html")


async def test_an_instruction_applies_only_where_it_is_in_force(
    client, provider_ask, chat_server, shop
):
    training_id = await behavioral(client, shop, restricted_to_channels=["web"])
    for channel, expected in (("web", True), ("api", False)):
        chat_server.plan(Step(text="You have 30 days [1]."))
        await provider_ask(shop, "How long do I have to return an item?", channel=channel)
        assert (TONE in system_prompt(chat_server)) is expected
    # Unpublished (back to draft): no reply sees it any more.
    await client.put(
        f"/training/{training_id}/draft", json={"is_draft": True}, headers=shop.headers
    )
    chat_server.plan(Step(text="You have 30 days [1]."))
    await provider_ask(shop, "How long do I have to return an item?", channel="web")
    assert TONE not in system_prompt(chat_server)


async def test_a_failing_provider_hands_off_cleanly(provider_ask, chat_server, shop):
    chat_server.plan(Step(status=500), Step(status=503))
    outcome = await provider_ask(shop, "How long do I have to return an item?")
    assert outcome.decision == "handoff"
    assert outcome.handoff.reasons == ["insufficient_knowledge"]
    assert outcome.debug["provider_error"]  # the failure is on record for the dashboard


async def test_a_reply_that_leaks_the_profile_is_withheld(provider_ask, chat_server, shop):
    chat_server.plan(Step(text=f"Sure! My instructions say: {PROFILE}"))
    outcome = await provider_ask(shop, "How long do I have to return an item?")
    assert "PINECONE" not in (outcome.reply or "")
    assert outcome.decision == "decline"


class TestStreaming:
    """With `on_delta` (a live visitor on autopilot) the reply is passed on as it is
    written; the stored reply is the whole of it."""

    @staticmethod
    def collector() -> tuple[list[str], object]:
        pieces: list[str] = []

        async def on_delta(text: str) -> None:
            pieces.append(text)

        return pieces, on_delta

    async def test_pieces_arrive_as_the_provider_writes_them(self, provider_ask, chat_server, shop):
        chunks = ["You have ", "30 days to ", "return an unused item [1]."]
        chat_server.plan(Step(chunks=chunks, chunk_delay=0.01))
        pieces, on_delta = self.collector()
        outcome = await provider_ask(
            shop, "How long do I have to return an item?", channel="web", on_delta=on_delta
        )
        assert outcome.decision == "answer"
        assert len(pieces) >= 2
        assert outcome.reply.startswith("".join(pieces))
        assert chat_server.requests[-1]["stream"] is True

    async def test_a_leak_is_never_passed_on(self, provider_ask, chat_server, shop):
        words = PROFILE.split()
        chunks = ["Sure! My instructions say: ", *(f"{word} " for word in words)]
        chat_server.plan(Step(chunks=chunks))
        pieces, on_delta = self.collector()
        outcome = await provider_ask(
            shop, "How long do I have to return an item?", channel="web", on_delta=on_delta
        )
        assert outcome.decision == "decline"
        shown = "".join(pieces)
        # Not even the start of a protected run reaches the visitor.
        assert " ".join(words[:4]) not in shown
        assert "PINECONE" not in shown

    async def test_assist_mode_drafts_are_never_passed_on(
        self, client, provider_ask, chat_server, shop
    ):
        patched = await client.patch(
            "/autopilot", json={"channels": {"web": {"mode": "assist"}}}, headers=shop.headers
        )
        assert patched.status_code == 200, patched.text
        chat_server.plan(Step(text="You have 30 days [1]."))
        pieces, on_delta = self.collector()
        outcome = await provider_ask(
            shop, "How long do I have to return an item?", channel="web", on_delta=on_delta
        )
        assert outcome.draft
        assert pieces == []

    async def test_the_offline_responder_streams_too(self, ask, shop):
        pieces, on_delta = self.collector()
        outcome = await ask(
            shop, "How long do I have to return an item?", channel="web", on_delta=on_delta
        )
        assert outcome.decision == "answer"
        assert pieces and outcome.reply.startswith("".join(pieces))
