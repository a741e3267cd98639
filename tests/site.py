"""A real local website for crawl tests: pages held in memory, editable between crawls,
served by a threaded HTTP server on loopback, with every request recorded."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def doc_page(title: str, body: str, links: list[str] = ()) -> str:  # type: ignore[assignment]
    nav = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return f"""<!doctype html><html lang="en"><head><title>{title}</title></head>
<body><nav class="sidebar"><ul>{nav}</ul></nav>
<main><article><h1>{title}</h1>{body}</article></main>
<footer>Copyright Example Corp. All rights reserved.</footer></body></html>"""


@dataclass
class Site:
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (type, body)
    delay_seconds: float = 0.0
    hits: list[str] = field(default_factory=list)
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def html(self, path: str, body: str) -> None:
        self.pages[path] = ("text/html; charset=utf-8", body)

    def fetches(self) -> Counter[str]:
        with self.lock:
            return Counter(
                path for path in self.hits if path != "/robots.txt" and "sitemap" not in path
            )


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.site.lock:
            self.site.hits.append(path)
        if self.site.delay_seconds:
            time.sleep(self.site.delay_seconds)
        entry = self.site.pages.get(path)
        if entry is None:
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"not found")
            return
        content_type, body = entry
        if content_type.startswith("redirect:"):
            self.send_response(301)
            self.send_header("Location", content_type.split(":", 1)[1])
            self.end_headers()
            return
        data = body.encode()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


LOREM = (
    "Each section explains one task in plain words so that a reader can follow along. "
    "The steps below were checked against the current release of the product."
)


def docs_site(n_pages: int = 6) -> Site:
    """A small documentation site: a home page linking to topic pages."""
    site = Site()
    topics = [f"/docs/topic-{i}.html" for i in range(n_pages)]
    site.html("/docs/", doc_page("Documentation home", f"<p>{LOREM}</p>", topics))
    for i, path in enumerate(topics):
        body = (
            f"<h2>Configuring feature {i}</h2><p>Feature {i} is enabled with the setting "
            f"<code>FEATURE_{i}_ENABLED = True</code> in your settings file. {LOREM}</p>"
            f"<h2>Troubleshooting feature {i}</h2><p>If feature {i} does not start, check "
            f"the log for the word zebra{i}. {LOREM}</p>"
        )
        site.html(path, doc_page(f"Feature {i} guide", body, ["/docs/", *topics]))
    site.pages["/robots.txt"] = ("text/plain", "User-agent: *\nAllow: /\n")
    return site
