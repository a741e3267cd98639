"""Widget API helpers: a browser's headers (widget token + contact JWT), contacts minted
both ways, and the `shop` org whose knowledge is a small support site crawled for real."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deskpilot import tasks as registry
from deskpilot.conversations import service as conversations
from deskpilot.widget import routes as widget_routes
from tests.agent.conftest import PROFILE, crawl, support_site
from tests.site import serve

BASE = "/backend/widget/v2"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@pytest.fixture
def no_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AI turns, and `chat/send` waits only briefly for the turn that never comes."""
    monkeypatch.delitem(registry.TASKS, conversations.AGENT_TURN, raising=False)
    monkeypatch.setattr(widget_routes, "WAIT_FOR_AI", 0.1)


@pytest.fixture
async def shop(client: httpx.AsyncClient, org: Any) -> Any:
    with serve(support_site()) as site:
        await crawl(client, org, f"{site.base}/help/")
    response = await client.patch("/org", json={"ai_instructions": PROFILE}, headers=org.headers)
    assert response.status_code == 200, response.text
    return org


@dataclass
class Browser:
    """One widget in one browser: the org's widget token and a contact token."""

    client: httpx.AsyncClient
    widget_token: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Bot-Token": self.widget_token, "Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(BASE + path, headers=self.headers, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(BASE + path, headers=self.headers, **kwargs)

    async def create_session(self, **body: Any) -> dict[str, Any]:
        response = await self.post("/create-session", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def send(self, session_id: str, content: str, **body: Any) -> dict[str, Any]:
        payload = {
            "uuid": body.pop("uuid", None) or str(__import__("uuid").uuid4()),
            "content": content,
            "session_id": session_id,
            "bot_token": self.widget_token,
            **body,
        }
        response = await self.post("/chat/send", json=payload)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def history(self, session_id: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.get(f"/session/history/{session_id}", params=params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()
        return items


async def unverified(client: httpx.AsyncClient, org: Any, **body: Any) -> Browser:
    response = await client.post(
        f"{BASE}/contact/create-unverified", json=body, headers={"X-Bot-Token": org.widget_token}
    )
    assert response.status_code == 201, response.text
    return Browser(client, org.widget_token, response.json()["token"])


async def verified(client: httpx.AsyncClient, org: Any, email: str, **body: Any) -> Browser:
    response = await client.post(
        "/widget/authenticate-user", json={"email": email, **body}, headers=org.headers
    )
    assert response.status_code == 201, response.text
    return Browser(client, org.widget_token, response.json()["token"])


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "message", "error"}
    assert body["statusCode"] == status
    return body
