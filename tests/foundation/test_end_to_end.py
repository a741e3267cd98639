"""Real server processes: the README walk-through as written, and restarts keeping data."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import _empty_all_tables
from tests.server import BIN, REPO, free_port, running_server, server_env

pytestmark = pytest.mark.slow


def walkthrough_script() -> str:
    readme = (REPO / "README.md").read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", readme, re.S
    )
    assert block, "README lost its walk-through block"
    return block.group(1)


@pytest.fixture
def env(settings, tmp_path: Path) -> dict[str, str]:
    return server_env(settings.DATABASE_URL, tmp_path / "data")


@pytest.fixture
async def clean_after(settings):
    yield
    await _empty_all_tables(settings)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "deskpilot"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestReadmeWalkthrough:
    def test_runs_as_written(self, env, clean_after):
        with running_server(env) as base:
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", walkthrough_script()],
                env={**env, "BASE": base},
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.strip().splitlines()
        org = json.loads(lines[0])
        assert org["name"] == "Corner Bookshop"
        assert org["partner_branding"]["app_name"] == "Acme Help"
        assert lines[1] == f"303 -> {base}/"
        assert lines[2] == "Acme Help's agent for Corner Bookshop"
        assert lines[3] == "410"


class TestRestart:
    def test_partners_orgs_keys_and_users_survive_a_restart(self, env, clean_after):
        created = run_cli(
            env, "partner", "create", "--name", "Durable", "--app-name", "Durable Help"
        )
        assert created.returncode == 0, created.stderr
        partner_key = json.loads(created.stdout)["api_key"]
        headers = {"Authorization": f"Bearer {partner_key}"}
        port = free_port()  # the same address before and after, as a real install keeps
        with running_server(env, port) as base:
            org = httpx.post(
                f"{base}/partner/v1/orgs", json={"name": "Kept"}, headers=headers
            ).json()
            org_key = httpx.post(
                f"{base}/partner/v1/orgs/{org['id']}/api-keys", json={"name": "k"}, headers=headers
            ).json()["api_key"]
            link = httpx.post(
                f"{base}/partner/v1/orgs/{org['id']}/login-links",
                json={"email": "kept@example.com", "name": "Kept User"},
                headers=headers,
            ).json()["url"]
            assert httpx.get(link).status_code == 303
        with running_server(env, port) as base:
            assert (
                httpx.get(f"{base}/partner/v1/orgs/{org['id']}", headers=headers).json()["name"]
                == "Kept"
            )
            assert (
                httpx.get(f"{base}/org", headers={"Authorization": f"Bearer {org_key}"}).status_code
                == 200
            )
            assert httpx.get(link).status_code == 410  # still used after the restart
            listed = json.loads(run_cli(env, "partner", "list").stdout)
            assert [p["name"] for p in listed] == ["Durable"]
            reread = httpx.get(f"{base}/partner/v1/orgs/{org['id']}", headers=headers).json()
            assert reread["stats"]["users"] == 1


class TestCli:
    def test_bad_input_exits_non_zero_with_a_message(self, env, clean_after):
        bad_color = run_cli(env, "partner", "create", "--name", "X", "--primary-color", "red")
        assert bad_color.returncode == 2 and "error: --primary-color" in bad_color.stderr
        bad_cidr = run_cli(env, "partner", "create", "--name", "X", "--allowed-ip", "10.0.0.0/33")
        assert bad_cidr.returncode == 2 and "not an IP address or CIDR" in bad_cidr.stderr
        unknown = run_cli(env, "partner", "deactivate", "5b0c2ea4-9a57-4c1e-8d42-3f1f1d9b0e11")
        assert unknown.returncode == 2 and "Partner not found" in unknown.stderr
        not_uuid = run_cli(env, "partner", "rotate-key", "acme")
        assert not_uuid.returncode == 2
        missing = run_cli(env, "partner", "create")
        assert missing.returncode != 0 and "--name" in missing.stderr

    def test_update_rotate_and_deactivate(self, env, clean_after):
        partner = json.loads(run_cli(env, "partner", "create", "--name", "P").stdout)
        updated = run_cli(
            env,
            "partner",
            "update",
            partner["id"],
            "--name",
            "P2",
            "--allowed-ip",
            "10.0.0.1",
            "--logo-url",
            "https://cdn.example/logo.svg",
        )
        body = json.loads(updated.stdout)
        assert body["name"] == "P2" and body["ip_allow_list"] == ["10.0.0.1/32"]
        assert body["branding"]["logo_url"] == "https://cdn.example/logo.svg"
        rotated = json.loads(run_cli(env, "partner", "rotate-key", partner["id"]).stdout)
        assert rotated["api_key"] != partner["api_key"]
        assert rotated["api_key"].startswith("dp_partner_")
        off = json.loads(run_cli(env, "partner", "deactivate", partner["id"]).stdout)
        assert off["active"] is False
        on = json.loads(run_cli(env, "partner", "update", partner["id"], "--activate").stdout)
        assert on["active"] is True
