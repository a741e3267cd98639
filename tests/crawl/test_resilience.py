"""Crawls across real processes: killed and resumed, shared by workers on the Redis queue,
scheduled, cancelled."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_URL, _empty_all_tables
from tests.server import BIN, REPO, free_port, running_server, server_env
from tests.site import Site, docs_site, serve

pytestmark = pytest.mark.slow


@pytest.fixture
async def clean_after(settings):
    yield
    await _empty_all_tables(settings)


@pytest.fixture
def env(settings, tmp_path: Path, data_dir: Path) -> dict[str, str]:
    # Share the test session's model cache so no process rebuilds the model.
    return server_env(
        settings.DATABASE_URL,
        data_dir,
        CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
        CRAWLER_POLITENESS_DELAY_SECONDS="0",
        CRAWLER_CONCURRENCY="4",
        JOBS_LEASE_SECONDS="6",
        JOBS_SCHEDULER_INTERVAL_SECONDS="1",
        RATE_LIMIT_ENABLED="false",
    )


def provision(env: dict[str, str], base: str, name: str = "Org") -> dict[str, str]:
    created = subprocess.run(
        [str(BIN / "deskpilot"), "partner", "create", "--name", f"P {name}"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    partner = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
    org = httpx.post(f"{base}/partner/v1/orgs", json={"name": name}, headers=partner).json()
    key = httpx.post(
        f"{base}/partner/v1/orgs/{org['id']}/api-keys", json={"name": "k"}, headers=partner
    ).json()
    return {"Authorization": f"Bearer {key['api_key']}", "org_id": org["id"]}


def latest_job(base: str, org: dict[str, str], ds_id: str) -> dict[str, Any]:
    headers = {"Authorization": org["Authorization"]}
    return httpx.get(f"{base}/crawl/{ds_id}/crawls", headers=headers).json()["items"][0]


def wait_until(predicate: Any, timeout: float = 90.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def finished(base: str, org: dict[str, str], ds_id: str) -> dict[str, Any] | None:
    job = latest_job(base, org, ds_id)
    return job if job["status"] in ("completed", "failed", "cancelled") else None


def add_datasource(base: str, org: dict[str, str], url: str) -> str:
    headers = {"Authorization": org["Authorization"]}
    response = httpx.post(f"{base}/crawl", json={"url": url, "page_limit": 500}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def final_state(base: str, org: dict[str, str], ds_id: str) -> dict[str, tuple[str, int | None]]:
    headers = {"Authorization": org["Authorization"]}
    pages = httpx.get(f"{base}/crawl/{ds_id}/pages", params={"limit": 100}, headers=headers).json()[
        "items"
    ]
    return {p["url"].split("/", 3)[3]: (p["status"], p["content_length"]) for p in pages}


@contextmanager
def worker_processes(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    workers = [
        subprocess.Popen(
            [str(BIN / "deskpilot"), "worker"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield workers
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def big_site(pages: int, delay: float) -> Site:
    site = docs_site(pages)
    site.delay_seconds = delay
    return site


class TestKilledServerResumes:
    def test_resumes_to_the_same_final_state(self, env, clean_after):
        with serve(big_site(40, 0.08)) as site:
            port = free_port()
            with running_server(env, port) as base:
                reference_org = provision(env, base, "Reference")
                reference = add_datasource(base, reference_org, f"{site.base}/docs/")
                wait_until(lambda: finished(base, reference_org, reference))
                expected = final_state(base, reference_org, reference)
                site.hits.clear()
                org = provision(env, base, "Interrupted")
                ds_id = add_datasource(base, org, f"{site.base}/docs/")
                wait_until(lambda: latest_job(base, org, ds_id)["completed_pages"] >= 12)
                kill_server(port)  # a crash: the context's SIGTERM then finds nothing left
            before_restart = sum(site.fetches().values())
            with running_server(env, port) as base:
                job = wait_until(lambda: finished(base, org, ds_id))
                assert job["status"] == "completed", job
                assert final_state(base, org, ds_id) == expected
                assert job["completed_pages"] == len(expected)
            fetches = site.fetches()
            # Only pages fetched but not yet stored at the kill are fetched again: up to 4 in
            # flight, up to 4 buffered for the writer, and the one being written.
            assert all(count <= 2 for count in fetches.values()), fetches
            assert sum(fetches.values()) <= len(expected) + 2 * 4 + 1, (before_restart, fetches)


def kill_server(port: int) -> None:
    """SIGKILL whatever listens on the port: a crash, not a clean shutdown."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True
    ).stdout
    pids = {int(part.split("pid=")[1].split(",")[0]) for part in out.split() if "pid=" in part}
    assert pids, out
    for pid in pids:
        subprocess.run(["kill", "-9", str(pid)], check=False)
    wait_until(
        lambda: (
            not subprocess.run(
                ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
            ).stdout.strip()
        ),
        timeout=10,
    )


DUPLICATE_DELIVERY = """
import asyncio, sys
from deskpilot.config import Settings
from deskpilot.jobs import RedisQueue

async def main():
    settings = Settings()
    queue = RedisQueue(settings.REDIS_URL, settings.JOBS_QUEUE_NAME)
    await queue.start(None)
    await queue.enqueue("run_crawl", job_id=sys.argv[1])
    await queue.close()

asyncio.run(main())
"""


class TestRedisWorkers:
    @pytest.fixture
    def redis_env(self, env) -> dict[str, str]:
        return {
            **env,
            "JOBS_BACKEND": "redis",
            "REDIS_URL": REDIS_URL,
            "JOBS_QUEUE_NAME": f"deskpilot:test:{uuid.uuid4().hex}",
        }

    def test_two_workers_never_fetch_a_page_twice(self, redis_env, clean_after):
        with (
            serve(big_site(30, 0.02)) as site,
            running_server(redis_env) as base,
            worker_processes(redis_env, 2),
        ):
            org = provision(redis_env, base)
            ds_id = add_datasource(base, org, f"{site.base}/docs/")
            job = latest_job(base, org, ds_id)
            # A duplicate delivery of the same job reaches the other worker.
            subprocess.run(
                [str(BIN / "python"), "-c", DUPLICATE_DELIVERY, job["id"]],
                env=redis_env,
                cwd=REPO,
                check=True,
            )
            done = wait_until(lambda: finished(base, org, ds_id))
            assert done["status"] == "completed" and done["new_pages"] == 31
            fetches = site.fetches()
            assert len(fetches) == 31 and set(fetches.values()) == {1}, fetches

    def test_scheduler_starts_a_due_recrawl_exactly_once(self, redis_env, settings, clean_after):
        with (
            serve(big_site(3, 0)) as site,
            running_server(redis_env) as base,
            worker_processes(redis_env, 2),
        ):
            org = provision(redis_env, base)
            ds_id = add_datasource(base, org, f"{site.base}/docs/")
            wait_until(lambda: finished(base, org, ds_id))
            make_due(settings, ds_id)

            def scheduled() -> list[dict[str, Any]]:
                jobs = httpx.get(
                    f"{base}/crawl/{ds_id}/crawls", headers={"Authorization": org["Authorization"]}
                ).json()["items"]
                return [
                    j for j in jobs if j["trigger"] == "schedule" and j["status"] == "completed"
                ]

            wait_until(scheduled, timeout=60)
            time.sleep(3)  # several more ticks of both workers' schedulers
            jobs = httpx.get(
                f"{base}/crawl/{ds_id}/crawls", headers={"Authorization": org["Authorization"]}
            ).json()["items"]
            assert [j["trigger"] for j in jobs] == ["schedule", "create"]
            assert jobs[0]["unchanged_pages"] == 4


def make_due(settings: Any, ds_id: str) -> None:
    import sqlalchemy as sa

    from deskpilot.db import sync_url

    engine = sa.create_engine(sync_url(settings))
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE datasources SET next_crawl_at = :past WHERE id = :id"),
            {
                "past": "2000-01-01 00:00:00",
                "id": uuid.UUID(ds_id).hex if "sqlite" in str(engine.url) else ds_id,
            },
        )
    engine.dispose()


class TestCancel:
    def test_cancel_stops_fetching_within_seconds(self, env, clean_after):
        with serve(big_site(60, 0.3)) as site, running_server(env) as base:
            org = provision(env, base)
            ds_id = add_datasource(base, org, f"{site.base}/docs/")
            wait_until(lambda: latest_job(base, org, ds_id)["completed_pages"] >= 4)
            job = latest_job(base, org, ds_id)
            response = httpx.post(
                f"{base}/crawl/{ds_id}/crawls/{job['id']}/cancel",
                headers={"Authorization": org["Authorization"]},
            )
            assert response.json()["status"] == "cancelled"
            time.sleep(2)
            settled = len(site.hits)
            time.sleep(2)
            assert len(site.hits) == settled  # nothing fetched after the first two seconds
            assert latest_job(base, org, ds_id)["status"] == "cancelled"
            again = httpx.post(
                f"{base}/crawl/{ds_id}/crawls/{job['id']}/cancel",
                headers={"Authorization": org["Authorization"]},
            )
            assert again.status_code == 409
