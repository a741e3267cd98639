"""Webhook test helpers: a real receiver on loopback, an install that may send to it (plain
http, loopback, retries a fraction of a second apart), the README's own verification code,
and waiting for deliveries to land."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from deskpilot import tasks as registry
from deskpilot.conversations import service as conversations
from deskpilot.models import WebhookDelivery
from deskpilot.webhooks import delivery as dispatch
from tests.server import REPO
from tests.webhooks.receiver import Receiver

FAST_RETRIES = [0.1] * 7


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "WEBHOOKS_ALLOW_HTTP": True,
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": True,
        "WEBHOOKS_TIMEOUT_SECONDS": 2,
        "WEBHOOKS_RETRY_SCHEDULE_SECONDS": FAST_RETRIES,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@pytest.fixture(autouse=True)
def prompt_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries start 20 ms after an emit rather than half a second: quicker tests."""
    monkeypatch.setattr(dispatch, "NOTICE_DELAY_SECONDS", 0.02)


@pytest.fixture(autouse=True)
def no_ai_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events come from the services the tests call; the AI's own turn has its tests."""
    monkeypatch.delitem(registry.TASKS, conversations.AGENT_TURN, raising=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def readme_verify() -> Callable[[str, str, bytes], bool]:
    """The verification snippet exactly as the README shows it."""
    readme = (REPO / "README.md").read_text()
    block = re.search(
        r"<!-- webhook-verify:start -->\s*```python\n(.*?)```\s*<!-- webhook-verify:end -->",
        readme,
        re.S,
    )
    assert block, "README lost its webhook verification snippet"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


async def create_webhook(
    client: httpx.AsyncClient, org: Any, url: str, events: list[str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/webhooks", json={"url": url, "events": events or ["*"], **body}, headers=org.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    *,
    timeout: float = 10.0,
    what: str = "condition",
) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def deliveries(sessionmaker: Any, webhook_id: str) -> list[WebhookDelivery]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == uuid.UUID(webhook_id))
                .order_by(WebhookDelivery.event_seq, WebhookDelivery.created_at)
            )
        )


async def all_settled(sessionmaker: Any, webhook_id: str, count: int | None = None) -> bool:
    """Every delivery of the endpoint finished (and, if given, there are `count`)."""
    found = await deliveries(sessionmaker, webhook_id)
    if count is not None and len(found) != count:
        return False
    return bool(found) and all(d.status in ("succeeded", "failed") for d in found)


async def stop_dispatcher(app: Any) -> Any:
    """Stop the process's dispatcher, once the scheduler's first tick has started it (else
    that tick would start one behind the test's back). Returns the task context."""
    ctx = app.state.deskpilot.tasks
    await eventually(lambda: dispatch.RESOURCE in ctx.resources, what="the dispatcher")
    await dispatch.close_dispatcher(ctx)
    return ctx
