"""The AI's replies go out as `conversation.ai_response` from the agent's own turn, and a
receiver slower than the timeout never holds the turns up: delivery runs beside the job
runner (here limited to one job at a time), never in its slots."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.webhooks.conftest import create_webhook, deliveries, eventually, readme_verify
from tests.webhooks.receiver import Receiver, always


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "WEBHOOKS_ALLOW_HTTP": True,
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True,
        "WEBHOOKS_TIMEOUT_SECONDS": 1.5,
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS": [60.0],
        "JOBS_CONCURRENCY": 1,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@pytest.fixture(autouse=True)
def no_ai_turns() -> None:
    """The AI answers in this module."""


async def ask(client: Any, org: Any, text: str) -> tuple[str, dict[str, Any], float]:
    """A new session and a contact message; waits for the AI's turn. Returns the session
    id, the send's data and how long it took."""
    session_id = (await client.post("/chat/sessions", json={}, headers=org.headers)).json()["id"]
    started = time.monotonic()
    response = await client.post(
        f"/chat/sessions/{session_id}/send",
        params={"wait_for_ai": "true"},
        json={"sender": "contact", "message": {"text": text}},
        headers=org.headers,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    assert data.get("code") != "ai_response_pending", data
    return session_id, data, elapsed


class TestAgentReplies:
    async def test_the_ais_reply_arrives_as_ai_response(self, client, org, receiver):
        hook = await create_webhook(client, org, receiver.url, ["conversation.ai_response"])
        session_id, data, _ = await ask(client, org, "Hello, can you help me with my order?")
        reply_id = data["autopilotResponse"]["id"]
        [request] = await eventually(receiver.received, what="the AI's reply")
        assert readme_verify()(hook["secret"], request.headers["x-deskpilot-signature"],
                               request.body)  # fmt: skip
        body = request.json
        assert body["event"] == "conversation.ai_response"
        assert body["data"]["conversation_id"] == session_id
        assert body["data"]["message_id"] == reply_id
        assert body["data"]["response"] == data["autopilotResponse"]["value"]["content"]

    async def test_a_receiver_slower_than_the_timeout_does_not_hold_up_replies(
        self, client, org, sessionmaker
    ):
        await ask(client, org, "Hello there")  # warm-up: whatever the first turn loads
        _, _, baseline = await ask(client, org, "Do you ship to Norway?")
        slow = Receiver(script=always(200, delay=5.0)).start()
        try:
            hook = await create_webhook(client, org, slow.url)
            timings = []
            for n in range(4):
                *_, elapsed = await ask(client, org, f"Do you ship to country {n}?")
                timings.append(elapsed)
            # Each reply emits two or three events whose requests each hang for the whole
            # 1.5 s timeout; were they run in the job runner's one slot, every turn after
            # the first would wait for them.
            assert max(timings) < baseline + 1.0, (baseline, timings)

            async def timed_out() -> list[Any]:
                found = await deliveries(sessionmaker, hook["id"])
                return [d for d in found if d.error == "timed out after 1.5 s"]

            await eventually(timed_out, timeout=15, what="timed-out attempts")
            assert slow.received(ok_only=False)
        finally:
            slow.stop()
