"""What the scheduler starts: due re-crawls and jobs whose runner stopped. Every claim is
one conditional UPDATE, so any number of schedulers start each piece of work once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.crawl.service import ACTIVE_JOB_STATUSES, crawl_rules
from deskpilot.models import CrawlJob, Datasource, Org, utcnow

# A pending job nobody picked up within this long has lost its queue message.
PENDING_GRACE = timedelta(seconds=30)


async def claim_due_recrawls(session: AsyncSession, *, limit: int = 50) -> list[uuid.UUID]:
    """Create a `schedule` job for each active datasource whose next crawl is due."""
    now = utcnow()
    due = list(
        await session.scalars(
            sa.select(Datasource.id)
            .join(Org, Org.id == Datasource.org_id)
            .where(
                Datasource.status == "active",
                Datasource.next_crawl_at.is_not(None),
                Datasource.next_crawl_at <= now,
                Org.deleted_at.is_(None),
            )
            .limit(limit)
        )
    )
    job_ids: list[uuid.UUID] = []
    for datasource_id in due:
        # Claim: only the scheduler whose UPDATE matches creates the job.
        claimed = await session.execute(
            sa.update(Datasource)
            .where(Datasource.id == datasource_id, Datasource.next_crawl_at <= now)
            .values(next_crawl_at=None)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        datasource = await session.get(Datasource, datasource_id)
        assert datasource is not None
        active = await session.scalar(
            sa.select(sa.func.count())
            .select_from(CrawlJob)
            .where(
                CrawlJob.datasource_id == datasource_id,
                CrawlJob.status.in_(ACTIVE_JOB_STATUSES),
            )
        )
        if active:
            continue  # the running job sets the next date when it ends
        job = CrawlJob(
            org_id=datasource.org_id,
            datasource_id=datasource.id,
            status="pending",
            trigger="schedule",
            rules=crawl_rules(datasource),
        )
        session.add(job)
        await session.flush()
        job_ids.append(job.id)
    return job_ids


async def orphaned_jobs(session: AsyncSession) -> list[uuid.UUID]:
    """Jobs that should be running but whose runner's lease lapsed (or never started)."""
    now = utcnow()
    rows = await session.scalars(
        sa.select(CrawlJob.id).where(
            CrawlJob.status.in_(ACTIVE_JOB_STATUSES),
            sa.or_(
                CrawlJob.lease_expires_at < now,
                sa.and_(
                    CrawlJob.lease_expires_at.is_(None),
                    CrawlJob.created_at < now - PENDING_GRACE,
                ),
            ),
        )
    )
    return list(rows)
