"""Test harness: one fresh database per run (SQLite file or a new PostgreSQL database,
chosen by DESKPILOT_TEST_DATABASE), migrated once, emptied after every test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from asgi_lifespan import LifespanManager

from deskpilot import db as database
from deskpilot.app import create_app
from deskpilot.config import Settings
from deskpilot.models import Base
from tests.server import free_port

TEST_DATABASE = os.environ.get("DESKPILOT_TEST_DATABASE", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_report_header(config: pytest.Config) -> str:
    return f"deskpilot test database: {TEST_DATABASE}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_DATABASE == "sqlite":
        path = tmp_path_factory.mktemp("db") / "deskpilot.db"
        yield f"sqlite:///{path}"
        return
    if TEST_DATABASE != "postgresql":
        raise pytest.UsageError(f"unknown DESKPILOT_TEST_DATABASE {TEST_DATABASE!r}")
    name = f"deskpilot_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SECRET_KEY": "test-" + "k" * 40,
        "PUBLIC_URL": "http://testserver",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def migrated(database_url: str, data_dir: Path) -> str:
    database.upgrade(make_settings(database_url, data_dir))
    return database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def settings(migrated: str, data_dir: Path, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(migrated, data_dir, **settings_overrides)


async def _empty_all_tables(settings: Settings) -> None:
    engine = database.create_engine(settings)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    # Generous bounds: on a loaded 2-core CI machine a start or stop (the model, the job
    # runner, the webhook dispatcher) can take longer than the library's 5 s default.
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application
    await _empty_all_tables(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def sessionmaker(app: Any) -> Any:
    return app.state.deskpilot.sessionmaker


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def org(client: httpx.AsyncClient, sessionmaker: Any) -> Any:
    """An org (with its partner and an API key) for tests of org-owned resources."""
    from tests.factories import make_org, make_partner

    partner = await make_partner(sessionmaker)
    return await make_org(client, partner)


@pytest.fixture
async def other_org(client: httpx.AsyncClient, org: Any) -> Any:
    """A second org of the same partner, for tenancy checks."""
    from tests.factories import make_org

    return await make_org(client, org.partner, name="Other shop")


@pytest.fixture
async def live(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The test app served over real HTTP (httpx's ASGI transport cannot stream)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_config=None)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield http
    server.should_exit = True
    await task
