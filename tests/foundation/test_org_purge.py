"""A deleted org is purged for good after its retention (API.md 2.3): every row it owns and
its files, and nothing of any other org."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskpilot.db import transaction
from deskpilot.models import Base, Org, utcnow
from deskpilot.org.tasks import purge_deleted_orgs
from tests.widget.conftest import no_ai, unverified

pytestmark = pytest.mark.usefixtures(no_ai.__name__)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _fill(client, org) -> None:
    """Rows in many of the org's tables, and one uploaded file on disk."""
    contact = await client.post(
        "/contacts", json={"contact": {"email": "ada@example.com"}}, headers=org.headers
    )
    assert contact.status_code == 201, contact.text
    for body in (
        {"title": "Tone", "content": "Be brief and friendly.", "type": "BEHAVIORAL"},
        {"title": "Refunds", "content": "Refunds take 14 days.", "type": "SCENARIO_SPECIFIC"},
    ):
        created = await client.post("/training", json=body, headers=org.headers)
        assert created.status_code == 201, created.text
    tagged = await client.put("/tags", json={"tag_name": "billing"}, headers=org.headers)
    assert tagged.status_code in (200, 201), tagged.text
    await client.patch("/widget-settings", json={"bot_name": "Paige"}, headers=org.headers)
    browser = await unverified(client, org)
    session = await browser.create_session()
    await browser.send(session["id"], "Hello")
    upload = await browser.post("/upload", files={"file": ("a.png", PNG, "image/png")})
    assert upload.status_code == 200, upload.text


async def _rows_of(sessionmaker, org_id) -> dict[str, int]:
    counts = {}
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if "org_id" in table.c:
                found = await session.scalar(
                    sa.select(sa.func.count()).select_from(table).where(table.c.org_id == org_id)
                )
                if found:
                    counts[table.name] = found
    return counts


async def _delete_days_ago(client, sessionmaker, org, days: float) -> None:
    response = await client.delete(f"/partner/v1/orgs/{org.id}", headers=org.partner.headers)
    assert response.status_code == 204, response.text
    async with transaction(sessionmaker) as session:
        await session.execute(
            sa.update(Org)
            .where(Org.id == uuid.UUID(org.id))
            .values(deleted_at=utcnow() - timedelta(days=days))
        )


async def test_purge_removes_every_row_and_file_of_a_deleted_org_only(
    app, client, sessionmaker, org, other_org
) -> None:
    uploads = Path(app.state.deskpilot.settings.DATA_DIR) / "widget_uploads"
    await _fill(client, org)
    await _fill(client, other_org)
    assert (uploads / org.id).is_dir()
    mine_before = await _rows_of(sessionmaker, uuid.UUID(org.id))
    theirs_before = await _rows_of(sessionmaker, uuid.UUID(other_org.id))
    assert len(mine_before) >= 8, mine_before  # the test touches many tables

    await _delete_days_ago(client, sessionmaker, org, days=31)
    await purge_deleted_orgs(app.state.deskpilot.tasks, every_seconds=0)

    assert await _rows_of(sessionmaker, uuid.UUID(org.id)) == {}
    async with sessionmaker() as session:
        assert await session.get(Org, uuid.UUID(org.id)) is None
    assert not (uploads / org.id).exists()
    assert await _rows_of(sessionmaker, uuid.UUID(other_org.id)) == theirs_before
    assert (uploads / other_org.id).is_dir()


async def test_an_org_inside_its_retention_is_kept(app, client, sessionmaker, org) -> None:
    await _fill(client, org)
    before = await _rows_of(sessionmaker, uuid.UUID(org.id))
    await _delete_days_ago(client, sessionmaker, org, days=29)
    await purge_deleted_orgs(app.state.deskpilot.tasks, every_seconds=0)
    assert await _rows_of(sessionmaker, uuid.UUID(org.id)) == before
