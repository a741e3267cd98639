"""Property-based run over the OpenAPI document against a live server: no 500s, and every
response matches the documented status codes, content types and schemas."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import _empty_all_tables, make_settings
from tests.server import BIN, REPO, running_server, server_env

pytestmark = pytest.mark.slow


@dataclass
class Live:
    base: str
    partner_headers: dict[str, str]
    org_headers: dict[str, str]


@pytest.fixture(scope="module")
def live(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    env = server_env(migrated, data_dir, RATE_LIMIT_ENABLED="false")
    created = subprocess.run(
        [str(BIN / "deskpilot"), "partner", "create", "--name", "Fuzz"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    partner_headers = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
    try:
        with running_server(env) as base:
            org = httpx.post(
                f"{base}/partner/v1/orgs", json={"name": "Fuzzed"}, headers=partner_headers
            ).json()
            key = httpx.post(
                f"{base}/partner/v1/orgs/{org['id']}/api-keys",
                json={"name": "fuzz"},
                headers=partner_headers,
            ).json()["api_key"]
            yield Live(base, partner_headers, {"Authorization": f"Bearer {key}"})
    finally:
        asyncio.run(_empty_all_tables(make_settings(migrated, data_dir)))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(operation: Any, live: Live) -> None:
    if operation.path.startswith("/auth/login"):
        headers: dict[str, str] = {"Accept": "application/json"}
    elif operation.path.startswith("/partner/"):
        headers = live.partner_headers
    else:
        headers = live.org_headers

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=live.base, headers=headers, checks=CHECKS)

    exercise()


def test_api_never_fails_or_breaks_its_schema(live: Live) -> None:
    api = schemathesis.openapi.from_url(f"{live.base}/api-json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    for operation in operations:
        try:
            fuzz(operation, live)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
