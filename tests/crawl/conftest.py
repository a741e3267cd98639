"""Crawl tests run real crawls against real local sites; private addresses are allowed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.site import docs_site, serve


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "CRAWLER_ALLOW_PRIVATE_NETWORKS": True,
        "CRAWLER_POLITENESS_DELAY_SECONDS": 0,
        "JOBS_SCHEDULER_INTERVAL_SECONDS": 3600,
    }


@pytest.fixture
def site():
    with serve(docs_site()) as running:
        yield running


async def wait_for_job(client, org, datasource_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the API until the datasource's latest job has ended."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = (await client.get(f"/crawl/{datasource_id}/crawls", headers=org.headers)).json()
        if jobs["items"] and jobs["items"][0]["status"] in ("completed", "failed", "cancelled"):
            return jobs["items"][0]
        if time.monotonic() > deadline:
            raise AssertionError(f"crawl did not finish: {jobs}")
        await asyncio.sleep(0.1)
