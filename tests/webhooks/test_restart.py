"""Nothing is lost: a real `deskpilot serve` records events while the receiver is down, is
killed with SIGKILL, and once restarted (receiver back) delivers every one of them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _empty_all_tables
from tests.server import BIN, REPO, free_port, server_env
from tests.webhooks.conftest import readme_verify
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`deskpilot serve` that the test may kill; terminated at the end if still alive."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(BIN / "deskpilot"), "serve", "--port", str(port)],
            cwd=REPO,
            env={**env, "PUBLIC_URL": base},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"server exited early:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def all_deliveries(base: str, headers: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{base}/webhooks/{webhook_id}/deliveries", params=params, headers=headers
        ).json()
        found += page["items"]
        cursor = page["next"]
        if cursor is None:
            return found


@pytest.fixture
async def clean_after(settings: Any) -> Any:
    yield
    await _empty_all_tables(settings)


def test_every_event_arrives_after_a_kill_and_restart(settings, tmp_path, clean_after):
    env = server_env(
        settings.DATABASE_URL,
        tmp_path / "data",
        WEBHOOKS_ALLOW_HTTP="true",
        WEBHOOKS_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOKS_RETRY_SCHEDULE_SECONDS="1,2,2,2,2,2,2",
    )
    log = tmp_path / "server.log"
    partner = subprocess.run(
        [str(BIN / "deskpilot"), "partner", "create", "--name", "Kill test"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    partner_headers = {"Authorization": f"Bearer {json.loads(partner.stdout)['api_key']}"}
    receiver = Receiver()  # down for the first run
    with serve(env, log) as (base, process):
        org = httpx.post(
            f"{base}/partner/v1/orgs", json={"name": "Shop"}, headers=partner_headers
        ).json()
        key = httpx.post(
            f"{base}/partner/v1/orgs/{org['id']}/api-keys",
            json={"name": "k"},
            headers=partner_headers,
        ).json()["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        hook = httpx.post(
            f"{base}/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=headers
        ).json()
        sessions = [
            httpx.post(f"{base}/chat/sessions", json={}, headers=headers).json()["id"]
            for _ in range(3)
        ]
        for n, session_id in enumerate(sessions):
            for text in ("Hello", "Are you there?"):
                sent = httpx.post(
                    f"{base}/chat/sessions/{session_id}/send",
                    params={"wait_for_ai": "true"},
                    json={"sender": "contact", "message": {"text": f"{text} ({n})"}},
                    headers=headers,
                    timeout=30,
                )
                assert sent.status_code == 200, sent.text
        wait_until(
            lambda: any(d["attempts"] for d in all_deliveries(base, headers, hook["id"])),
            timeout=15,
            what="attempts on the dead receiver",
        )
        # Recorded just before the kill: committed, perhaps never attempted.
        closed = httpx.patch(
            f"{base}/chat/sessions/{sessions[0]}",
            json={"status": "closed_resolved"},
            headers=headers,
        )
        assert closed.status_code == 200, closed.text
        process.kill()
        process.wait(timeout=10)
    receiver.start()
    try:
        with serve(env, log) as (base, _process):

            def settled() -> list[dict[str, Any]] | None:
                found = all_deliveries(base, headers, hook["id"])
                return found if all(d["status"] == "succeeded" for d in found) else None

            recorded = wait_until(settled, timeout=30, what="every delivery to succeed")
        event_ids = {d["event_id"] for d in recorded}
        received = receiver.received()
        assert {r.event_id for r in received} == event_ids
        # Per session at least started and two contact_response; and one closed.
        assert len(event_ids) >= 3 * 3 + 1
        assert {"conversation.closed", "conversation.ai_response"} <= {
            r.json["event"] for r in received
        }
        verify = readme_verify()
        for request in received:
            assert verify(hook["secret"], request.headers["x-deskpilot-signature"], request.body)
    finally:
        receiver.stop()
