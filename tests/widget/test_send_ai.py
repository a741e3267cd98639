"""`chat/send` answered by the real agent (offline responder) from a crawled support site:
the reply, its sources in the history, and a re-send that returns the first result."""

from __future__ import annotations

import uuid

from tests.widget.conftest import unverified


async def test_send_waits_for_the_ai_answer_with_its_sources(client, shop) -> None:
    browser = await unverified(client, shop)
    session = await browser.create_session()
    message_uuid = str(uuid.uuid4())
    result = await browser.send(
        session["id"], "How long do I have to return an item?", uuid=message_uuid
    )
    assert result["success"] is True and "code" not in result
    reply = result["autopilotResponse"]
    assert reply["type"] == "text" and reply["value"]["error"] is None
    assert "30 days" in reply["value"]["content"]
    assert reply["mightSolveUserIssue"] is True
    assert result["sessionIsHandedOff"] is False
    assert result["session"]["lastMessage"] == reply["value"]["content"]

    items = await browser.history(session["id"])
    assert [(i["type"], i["sender"]["kind"]) for i in items] == [
        ("message", "user"),
        ("message", "ai"),
    ]
    assert items[1]["publicId"] == reply["id"]
    assert items[1]["sources"][0]["url"].endswith("/help/returns.html")

    again = await browser.send(
        session["id"], "How long do I have to return an item?", uuid=message_uuid
    )
    assert again["autopilotResponse"] == reply
    assert len(await browser.history(session["id"])) == 2
