"""A real HTTP server on loopback that speaks OpenAI's chat-completions protocol (JSON and
SSE) and plays a script of answers, failures and delays, for the provider's failure paths."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Step:
    """One scripted answer. `status` other than 200 answers with an OpenAI-style error."""

    text: str = ""
    status: int = 200
    delay: float = 0.0
    # Streaming: the deltas to send (defaults to `text` in one piece) and a pause between.
    chunks: list[str] | None = None
    chunk_delay: float = 0.0
    retry_after: str | None = None
    # Streaming: an error event after the chunks instead of [DONE].
    error_mid_stream: bool = False


@dataclass
class ChatServer:
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _script: deque[Step] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, *steps: Step) -> None:
        with self._lock:
            self._script.clear()
            self._script.extend(steps)
            self.requests.clear()
            self.headers.clear()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Step:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self._script.popleft() if self._script else Step(text="(no plan)")

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        step = self._next(body, dict(request.headers))
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            headers = {"Retry-After": step.retry_after} if step.retry_after else {}
            error = {"error": {"message": f"scripted {step.status}", "type": "server_error"}}
            return JSONResponse(error, status_code=step.status, headers=headers)
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": step.text},
                            "finish_reason": "stop",
                        }
                    ],
                }
            )
        return StreamingResponse(_events(step, body), media_type="text/event-stream")


async def _events(step: Step, body: dict[str, Any]) -> Any:
    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "model": body.get("model"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n"

    yield ": keep-alive\n\n"
    yield event({"role": "assistant"})
    for piece in step.chunks if step.chunks is not None else [step.text]:
        if step.chunk_delay:
            await asyncio.sleep(step.chunk_delay)
        yield event({"content": piece})
    if step.error_mid_stream:
        yield 'data: {"error": {"message": "scripted failure mid-stream"}}\n\n'
        return
    yield event({}, "stop")
    yield "data: [DONE]\n\n"


def start_chat_server() -> tuple[ChatServer, uvicorn.Server, threading.Thread]:
    server = ChatServer()
    app = Starlette(routes=[Route("/v1/chat/completions", server.completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the chat server did not start")
        time.sleep(0.01)
    server.base_url = f"http://127.0.0.1:{port}/v1"
    return server, runner, thread
