"""A real webhook receiver on loopback: a threaded HTTP server that records every request
and answers as a test script says (status code, delay), and can go down and come back on
the same port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.server import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered
    at: float  # time.monotonic() on arrival

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event_id(self) -> str:
        return self.headers["x-deskpilot-event-id"]

    @property
    def attempt(self) -> int:
        return int(self.headers["x-deskpilot-attempt"])


# (request so far, how many requests came before it) -> (status, seconds to wait first)
Script = Callable[[Received, int], tuple[int, float]]


def always(status: int = 200, delay: float = 0.0) -> Script:
    return lambda _request, _count: (status, delay)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    script: Script = field(default_factory=always)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/deskpilot"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.lock:
                    probe = Received(self.path, headers, body, 0, time.monotonic())
                    status, delay = receiver.script(probe, len(receiver.requests))
                    receiver.requests.append(Received(self.path, headers, body, status, probe.at))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self, *, ok_only: bool = True) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if not ok_only or 200 <= r.status < 300]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the requests answered 2xx, in arrival order."""
        return [r.json for r in self.received() if name is None or r.json["event"] == name]
