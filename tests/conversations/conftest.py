"""Chat session helpers. The AI's turn is kept out of these tests (they check what the Org API
stores); the hook that requests it has tests of its own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from deskpilot import tasks as registry
from deskpilot.conversations import service
from deskpilot.db import transaction


@pytest.fixture(autouse=True)
def no_ai_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(registry.TASKS, service.AGENT_TURN, raising=False)


async def create_session(client: httpx.AsyncClient, org: Any, **body: Any) -> str:
    response = await client.post("/chat/sessions", json=body, headers=org.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def read_session(client: httpx.AsyncClient, org: Any, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/chat/sessions/{session_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def send(
    client: httpx.AsyncClient,
    org: Any,
    session_id: str,
    text: str = "Hello there",
    *,
    sender: str = "contact",
    **extra: Any,
) -> httpx.Response:
    message = {"text": text, **extra.pop("message", {})}
    return await client.post(
        f"/chat/sessions/{session_id}/send",
        json={"sender": sender, "message": message, **extra},
        headers=org.headers,
    )


async def sent_id(
    client: httpx.AsyncClient, org: Any, session_id: str, text: str = "Hello there", **extra: Any
) -> str:
    response = await send(client, org, session_id, text, **extra)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["message"]["id"])


async def history(
    client: httpx.AsyncClient, org: Any, session_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/chat/sessions/{session_id}/history", params=params, headers=org.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def ai_reply(sessionmaker: Any, org: Any, session_id: str, text: str) -> None:
    """What the agent does after its turn: store the AI's message."""
    async with transaction(sessionmaker) as db:
        session = await service.get_session(
            db, org_id=uuid.UUID(org.id), session_id=uuid.UUID(session_id)
        )
        await service.append_event(db, session=session, type="message", sender_type="ai", text=text)


async def make_tag(client: httpx.AsyncClient, org: Any, name: str) -> None:
    response = await client.put("/tags", json={"tag_name": name}, headers=org.headers)
    assert response.status_code in (200, 201), response.text
