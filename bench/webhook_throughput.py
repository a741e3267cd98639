"""Webhook delivery from one `deskpilot serve` to a receiver on loopback: events delivered per
second draining a backlog, and the delay emitting adds to replies (send latency with and
without an endpoint registered).

    .venv/bin/python bench/webhook_throughput.py [--events 3000] [--rounds 60]
        [--database-url postgresql://…]

1. Throughput: an endpoint is registered, the server stopped, N events of 300 conversations
   (10 each) recorded into the outbox through `webhooks.service.emit`, the server started:
   its dispatcher drains the backlog (in order per conversation, signed, one record per
   attempt). Events/s = N / (last arrival - first arrival) at the receiver, which runs in
   its own process and answers 200 at once over keep-alive connections.
2. Delay per reply: two orgs on the same server with the same crawled help site, one with an
   endpoint for every event and one without. A round: a contact message (the send's
   latency; it emits conversation.started and .contact_response), the AI's reply to it
   (the gap between the two messages' server timestamps; it emits .ai_response), an agent
   message (latency; .agent_response). Blocks of 10 rounds per org in turn, the deliveries
   of a block let through before the next; p50/p95 of each figure with and without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
from _live import Live, Org, crawl, free_port, help_site, live_server, provision

from deskpilot import db as database
from deskpilot.config import Settings
from deskpilot.webhooks import service

WEBHOOK_SETTINGS = {
    "WEBHOOKS_ALLOW_HTTP": "true",
    "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    "RATE_LIMIT_ENABLED": "false",
}


# --- the receiver (its own process) -------------------------------------------------------


def _receiver_main(port: int, ready: Any) -> None:
    """HTTP/1.1 keep-alive on asyncio streams: POSTs are counted, `GET /stats` reports."""
    arrivals: list[float] = []
    event_ids: set[str] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                if lines[0].startswith("GET /stats"):
                    body = json.dumps(
                        {
                            "count": len(arrivals),
                            "distinct": len(event_ids),
                            "first": arrivals[0] if arrivals else None,
                            "last": arrivals[-1] if arrivals else None,
                        }
                    ).encode()
                else:
                    arrivals.append(time.time())
                    event_ids.add(headers.get("x-deskpilot-event-id", ""))
                    body = b""
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=_receiver_main, args=(self.port, ready), daemon=True
        )
        self.process.start()
        ready.wait(10)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"http://127.0.0.1:{self.port}/stats").json()
        return stats

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


# --- helpers ------------------------------------------------------------------------------


def register(live: Live, org: Org, url: str) -> dict[str, Any]:
    response = httpx.post(
        f"{live.base}/webhooks", json={"url": url, "events": ["*"]}, headers=org.headers
    )
    response.raise_for_status()
    created: dict[str, Any] = response.json()
    return created


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def fill_outbox(database_url: str, data_dir: str, org_id: str, events: int) -> None:
    """N events of 300 conversations, emitted as the conversation services emit them."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=database_url, DATA_DIR=data_dir, SECRET_KEY="x" * 40
    )
    engine = database.create_engine(settings)
    sessionmaker = database.create_sessionmaker(engine)
    conversations = [uuid.uuid4() for _ in range(max(1, events // 10))]
    try:
        done = 0
        while done < events:
            async with database.transaction(sessionmaker) as db:
                for _ in range(min(500, events - done)):
                    conversation = conversations[done % len(conversations)]
                    await service.emit(
                        db,
                        org_id=uuid.UUID(org_id),
                        event="conversation.ai_response",
                        conversation_id=conversation,
                        data={
                            "conversation_id": str(conversation),
                            "timestamp": "2026-01-01T00:00:00.000Z",
                            "customer_id": None,
                            "message_id": str(uuid.uuid4()),
                            "response": "Orders ship from our warehouse within one business "
                            "day; standard delivery takes 3 to 5 business days. [1]",
                            "channel": "web",
                            "message_count": done % 10 + 2,
                            "language": "en",
                        },
                    )
                    done += 1
    finally:
        await engine.dispose()


# --- the two measurements -----------------------------------------------------------------


def throughput(database_url: str | None, events: int) -> dict[str, Any]:
    """One data folder across two runs of the server: the outbox is filled in between."""
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="deskpilot-bench-wh-") as data:
        url = database_url or f"sqlite+aiosqlite:///{data}/deskpilot.db"
        settings = {**WEBHOOK_SETTINGS, "DATA_DIR": data}
        try:
            with live_server(url, **settings) as live:
                org = provision(live, "Throughput Shop")
                register(live, org, receiver.url)
            started = time.monotonic()
            asyncio.run(fill_outbox(url, data, org.id, events))
            filled = time.monotonic() - started
            with live_server(url, **settings):
                deadline = time.monotonic() + 600
                while receiver.stats()["distinct"] < events:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {receiver.stats()} of {events} delivered")
                    time.sleep(0.2)
            stats = receiver.stats()
        finally:
            receiver.stop()
    seconds = stats["last"] - stats["first"]
    return {
        "events": events,
        "requests": stats["count"],
        "outbox_fill_events_per_s": events / filled,
        "drain_seconds": seconds,
        "delivered_per_s": events / seconds if seconds else float("inf"),
    }


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _one_round(http: httpx.Client, org: Org) -> dict[str, float]:
    """A contact message (its send's latency), the AI's reply to it (the time between the two
    messages' server timestamps, free of any polling of ours), an agent message (latency)."""
    session = http.post("/chat/sessions", json={}, headers=org.headers).json()["id"]
    started = time.perf_counter()
    http.post(
        f"/chat/sessions/{session}/send",
        json={"sender": "contact", "message": {"text": "How long does standard delivery take?"}},
        headers=org.headers,
    ).raise_for_status()
    contact_send = time.perf_counter() - started
    deadline = time.monotonic() + 30
    while True:
        items = http.get(f"/chat/sessions/{session}/history", headers=org.headers).json()["items"]
        messages = [i for i in items if i["event"]["type"] == "message"]
        if len(messages) >= 2:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the AI did not reply")
        time.sleep(0.005)
    reply = _moment(messages[1]["created_at"]) - _moment(messages[0]["created_at"])
    started = time.perf_counter()
    http.post(
        f"/chat/sessions/{session}/send",
        json={
            "sender": "agent",
            "agent": {"id": 1, "name": "Ann"},
            "message": {"text": "Anything else I can do?"},
        },
        headers=org.headers,
    ).raise_for_status()
    agent_send = time.perf_counter() - started
    return {
        "contact_send": contact_send * 1000,
        "ai_reply": reply.total_seconds() * 1000,
        "agent_send": agent_send * 1000,
    }


def reply_delay(database_url: str | None, rounds: int, block: int = 10) -> dict[str, Any]:
    receiver = Receiver()
    try:
        with help_site() as site, live_server(database_url, **WEBHOOK_SETTINGS) as live:
            plain = provision(live, "Plain Shop")
            hooked = provision(live, "Hooked Shop")
            for org in (plain, hooked):
                crawl(live, org, site)
            register(live, hooked, receiver.url)
            timings: dict[str, dict[str, list[float]]] = {}
            with httpx.Client(base_url=live.base, timeout=90) as http:
                for org in (plain, hooked):  # warm-up
                    for _ in range(3):
                        _one_round(http, org)
                # Blocks of rounds, alternating the orgs; after each block the deliveries it
                # caused are let through, so that they count against their own block only.
                for n in range(0, rounds, block):
                    for label, org in (("without", plain), ("with", hooked)):
                        for _ in range(min(block, rounds - n)):
                            for kind, value in _one_round(http, org).items():
                                timings.setdefault(kind, {}).setdefault(label, []).append(value)
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline:
                            seen = receiver.stats()["distinct"]
                            time.sleep(0.3)
                            if receiver.stats()["distinct"] == seen:
                                break
            delivered = receiver.stats()["distinct"]
    finally:
        receiver.stop()
    result: dict[str, Any] = {"rounds_per_org": rounds, "events_delivered": delivered}
    for kind, pair in timings.items():
        for label, values in pair.items():
            result[f"{kind}_{label}_p50_ms"] = round(statistics.median(values), 1)
            result[f"{kind}_{label}_p95_ms"] = round(percentile(values, 0.95), 1)
        result[f"{kind}_added_p50_ms"] = round(
            result[f"{kind}_with_p50_ms"] - result[f"{kind}_without_p50_ms"], 1
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--only", choices=("throughput", "delay"), default=None)
    args = parser.parse_args()
    if args.only != "delay":
        print("throughput:", json.dumps(throughput(args.database_url, args.events), indent=2))
    if args.only != "throughput":
        print("reply delay:", json.dumps(reply_delay(args.database_url, args.rounds), indent=2))


if __name__ == "__main__":
    main()
