"""Push capacity: how many widget push streams (server-sent events, API.md 4.3) one
`deskpilot serve` holds open while visitors' questions still get the AI's reply on their
stream in under a second at p95.

Steps up the number of open streams (one visitor, one session, one stream each); at every
step a batch of visitors asks a question through `chat/send` at a steady rate, and the time
from the send to the AI's reply arriving on that visitor's stream is measured. Stops at the
first step whose p95 is over the bound, or when the time budget is spent. Loopback only; the
server runs on the embedded defaults (SQLite, in-process jobs and events, offline responder)
unless `--database-url` says otherwise. Rate limits are off in the server under test: every
visitor here shares one IP, which the per-IP limits would rightly stop.

    .venv/bin/python bench/push_streams.py [--steps 250,500,1000,2000,4000] [--messages 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field

import httpx
from _live import QUESTIONS, Org, crawl, help_site, live_server, provision, server_rss_mib

WIDGET = "/backend/widget/v2"


@dataclass
class Visitor:
    token: str
    session_id: str
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    replies: asyncio.Queue[float] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


def headers_of(org: Org, token: str) -> dict[str, str]:
    return {"X-Bot-Token": org.widget_token, "Authorization": f"Bearer {token}"}


async def arrive(client: httpx.AsyncClient, org: Org) -> Visitor:
    """A new visitor: an unverified contact and a session."""
    contact = await client.post(
        f"{WIDGET}/contact/create-unverified", json={}, headers={"X-Bot-Token": org.widget_token}
    )
    contact.raise_for_status()
    token = contact.json()["token"]
    session = await client.post(f"{WIDGET}/create-session", json={}, headers=headers_of(org, token))
    session.raise_for_status()
    return Visitor(token, session.json()["id"])


async def listen(client: httpx.AsyncClient, org: Org, visitor: Visitor) -> None:
    """Holds the visitor's stream open; notes when each AI message arrives."""
    url = f"{WIDGET}/stream/{visitor.session_id}"
    async with client.stream("GET", url, headers=headers_of(org, visitor.token)) as response:
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                visitor.opened.set()
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "message":
                data = json.loads(line[5:])
                if data["sender"]["kind"] == "ai":
                    visitor.replies.put_nowait(time.perf_counter())
            elif line == "":
                event = ""


async def ask(client: httpx.AsyncClient, org: Org, visitor: Visitor, question: str) -> float:
    """Seconds from the send to the AI's reply on the visitor's stream."""
    started = time.perf_counter()
    body = {
        "uuid": str(uuid.uuid4()),
        "content": question,
        "session_id": visitor.session_id,
        "bot_token": org.widget_token,
    }
    send = asyncio.create_task(
        client.post(f"{WIDGET}/chat/send", json=body, headers=headers_of(org, visitor.token))
    )
    try:
        arrived = await asyncio.wait_for(visitor.replies.get(), timeout=30)
    except TimeoutError:
        arrived = float("inf")
    response = await send
    response.raise_for_status()
    return arrived - started


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, base: str, org: Org, rss: object) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(60.0, read=None)
    started = time.monotonic()
    visitors: list[Visitor] = []
    rng = random.Random(7)
    async with (
        httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as streams,
        httpx.AsyncClient(base_url=base, timeout=60.0) as api,
    ):
        gate = asyncio.Semaphore(16)

        async def join() -> Visitor:
            async with gate:
                visitor = await arrive(api, org)
            visitor.task = asyncio.create_task(listen(streams, org, visitor))
            await asyncio.wait_for(visitor.opened.wait(), timeout=60)
            return visitor

        # Warm-up: the first replies load the models and fill the caches.
        warm = [await join() for _ in range(4)]
        for number, visitor in enumerate(warm):
            await ask(api, org, visitor, QUESTIONS[number])
        visitors += warm
        print(f"{'streams':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'RSS MiB':>8}")
        for target in args.steps:
            visitors += await asyncio.gather(*(join() for _ in range(target - len(visitors))))
            broken = [v for v in visitors if v.task is not None and v.task.done()]
            if broken:
                print(f"{len(broken)} streams closed early; stopping")
                break
            chosen = rng.sample(visitors, min(args.messages, len(visitors)))
            asks = []
            for number, visitor in enumerate(chosen):
                question = QUESTIONS[number % len(QUESTIONS)]
                asks.append(asyncio.create_task(ask(api, org, visitor, question)))
                await asyncio.sleep(1 / args.rate)
            samples = await asyncio.gather(*asks)
            p50, p95 = statistics.median(samples), percentile(samples, 0.95)
            print(
                f"{len(visitors):8d} {p50 * 1000:8.0f} {p95 * 1000:8.0f} "
                f"{max(samples) * 1000:8.0f} {rss():8.0f}",  # type: ignore[operator]
                flush=True,
            )
            if p95 >= args.bound:
                print(f"p95 over {args.bound * 1000:.0f} ms at {len(visitors)} streams; stopping")
                break
            if time.monotonic() - started > args.budget:
                print(f"time budget of {args.budget:.0f} s spent; stopping")
                break
        for visitor in visitors:
            if visitor.task is not None:
                visitor.task.cancel()
        await asyncio.gather(*(v.task for v in visitors if v.task), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[250, 500, 1000, 2000, 4000],
        help="numbers of open streams to measure at (comma-separated, increasing)",
    )
    parser.add_argument("--messages", type=int, default=40, help="questions per step")
    parser.add_argument("--rate", type=float, default=4.0, help="questions per second")
    parser.add_argument("--bound", type=float, default=1.0, help="p95 bound in seconds")
    parser.add_argument("--budget", type=float, default=900.0, help="time budget in seconds")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    with live_server(args.database_url, RATE_LIMIT_ENABLED="false") as live:
        org = provision(live)
        with help_site() as url:
            crawl(live, org, url)
        print(f"server {live.base}; {args.messages} questions per step at {args.rate}/s")
        asyncio.run(run(args, live.base, org, lambda: server_rss_mib(live)))


if __name__ == "__main__":
    main()
