"""The org feature's periodic work: deleted orgs are purged for good once their retention
(`DELETED_ORG_RETENTION_DAYS`, 30 days by default) is over, rows and files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import structlog

from deskpilot.conversations.attachments import AttachmentStore
from deskpilot.db import transaction
from deskpilot.jobs import TaskContext, due_every
from deskpilot.models import utcnow
from deskpilot.org import service

log = structlog.get_logger(__name__)

# Folders under DATA_DIR that keep files per org.
_FILE_STORES = ("attachments", "widget_uploads")


async def purge_deleted_orgs(ctx: TaskContext, *, every_seconds: float = 3600) -> None:
    if not due_every(ctx, "purge_deleted_orgs", every_seconds):
        return
    retention = timedelta(days=ctx.settings.DELETED_ORG_RETENTION_DAYS)
    while True:
        async with ctx.sessionmaker() as session:
            due = await service.orgs_to_purge(session, deleted_before=utcnow() - retention)
        if not due:
            return
        # Files first: a crash after them leaves rows of an org nobody can reach, which the
        # next sweep purges; the other way round would leave files nothing points to.
        for org_id in due:
            for store in _FILE_STORES:
                await AttachmentStore(Path(ctx.settings.DATA_DIR) / store).delete_org(org_id)
        async with transaction(ctx.sessionmaker) as session:
            await service.purge_orgs(session, org_ids=due)
        log.info("org.purged", org_ids=[str(org_id) for org_id in due])
