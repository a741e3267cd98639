"""Training entries of one org: drafts, publishing into immutable versions, directories, and
the published entries the AI applies to a conversation turn."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import TrainingDirectory, TrainingItem, TrainingVersion, utcnow
from deskpilot.orgsettings.schemas import CHANNELS
from deskpilot.pagination import apply_cursor, contains_pattern, decode_cursor, page_of
from deskpilot.tenancy import org_scoped
from deskpilot.training.schemas import (
    DirectoryCreate,
    DirectoryUpdate,
    TrainingCreate,
    TrainingUpdate,
)

CHANNEL_BITS: dict[str, int] = {channel: 1 << index for index, channel in enumerate(CHANNELS)}


def channel_mask(channels: Collection[str]) -> int:
    mask = 0
    for channel in channels:
        mask |= CHANNEL_BITS[channel]
    return mask


# --- directories --------------------------------------------------------------------------


async def get_directory(
    session: AsyncSession, *, org_id: uuid.UUID, directory_id: uuid.UUID
) -> TrainingDirectory:
    directory = (
        await session.scalars(
            org_scoped(TrainingDirectory, org_id).where(TrainingDirectory.id == directory_id)
        )
    ).first()
    if directory is None:
        raise NotFound("Directory not found")
    return directory


async def list_directories(session: AsyncSession, *, org_id: uuid.UUID) -> list[TrainingDirectory]:
    return list(
        await session.scalars(
            org_scoped(TrainingDirectory, org_id).order_by(
                TrainingDirectory.created_at.desc(), TrainingDirectory.id.desc()
            )
        )
    )


async def create_directory(
    session: AsyncSession, *, org_id: uuid.UUID, data: DirectoryCreate
) -> TrainingDirectory:
    if data.parent_id is not None:
        await get_directory(session, org_id=org_id, directory_id=data.parent_id)
    directory = TrainingDirectory(org_id=org_id, name=data.name, parent_id=data.parent_id)
    session.add(directory)
    await session.flush()
    return directory


async def update_directory(
    session: AsyncSession, *, directory: TrainingDirectory, changes: DirectoryUpdate
) -> TrainingDirectory:
    fields = changes.model_fields_set
    if "name" in fields:
        if changes.name is None:
            raise InvalidInput("name cannot be null")
        directory.name = changes.name
    if "parent_id" in fields:
        parent_id = changes.parent_id
        # Walk up from the new parent: meeting this directory would make a cycle.
        ancestor_id = parent_id
        while ancestor_id is not None:
            if ancestor_id == directory.id:
                raise InvalidInput("parent_id must not be the directory itself or inside it")
            ancestor = await get_directory(
                session, org_id=directory.org_id, directory_id=ancestor_id
            )
            ancestor_id = ancestor.parent_id
        directory.parent_id = parent_id
    directory.updated_at = utcnow()
    await session.flush()
    return directory


async def delete_directory(session: AsyncSession, *, directory: TrainingDirectory) -> None:
    """Only an empty directory (no entries, no sub-directories) can go."""
    entries = await session.scalar(
        org_scoped(TrainingItem, directory.org_id)
        .where(TrainingItem.directory_id == directory.id)
        .with_only_columns(sa.func.count())
    )
    children = await session.scalar(
        org_scoped(TrainingDirectory, directory.org_id)
        .where(TrainingDirectory.parent_id == directory.id)
        .with_only_columns(sa.func.count())
    )
    if entries or children:
        raise Conflict("The directory is not empty: move or delete its contents first")
    await session.delete(directory)
    await session.flush()


# --- entries ------------------------------------------------------------------------------


def _publish(session: AsyncSession, item: TrainingItem, *, title: str, content: str) -> None:
    """`title`/`content` go live as the next version; any pending draft is consumed."""
    now = utcnow()
    version = item.latest_version + 1
    session.add(
        TrainingVersion(
            org_id=item.org_id,
            training_id=item.id,
            version=version,
            title=title,
            content=content,
            published_at=now,
        )
    )
    item.latest_version = version
    item.current_version = version
    item.title, item.content = title, content
    item.draft_title = item.draft_content = None
    item.is_draft = False
    item.published_at = now


def _keep_draft(item: TrainingItem, *, title: str, content: str) -> None:
    """Store working text without publishing it."""
    if item.is_draft:
        # Unpublished: nothing is live, so the entry's own text is the draft too.
        item.title, item.content = title, content
        item.draft_title, item.draft_content = title, content
    elif (title, content) == (item.title, item.content):
        item.draft_title = item.draft_content = None  # same as live: nothing pending
    else:
        item.draft_title, item.draft_content = title, content


def _working_text(item: TrainingItem) -> tuple[str, str]:
    """The text an editor shows: the pending draft, else the entry's text."""
    return item.draft_title or item.title, item.draft_content or item.content


async def create_training(
    session: AsyncSession, *, org_id: uuid.UUID, data: TrainingCreate
) -> TrainingItem:
    if data.directory_id is not None:
        await get_directory(session, org_id=org_id, directory_id=data.directory_id)
    item = TrainingItem(
        org_id=org_id,
        type=data.type,
        title=data.title,
        content=data.content,
        is_draft=True,
        directory_id=data.directory_id,
        restricted_to_channels=list(data.restricted_to_channels),
        channel_mask=channel_mask(data.restricted_to_channels),
        restricted_to_segments=list(data.restricted_to_segments),
        metadata_=dict(data.metadata),
        latest_version=0,
        start_time=data.start_time,
        end_time=data.end_time,
    )
    session.add(item)
    await session.flush()
    if data.is_draft:
        _keep_draft(item, title=data.title, content=data.content)
    else:
        _publish(session, item, title=data.title, content=data.content)
    await session.flush()
    return item


async def get_training(
    session: AsyncSession, *, org_id: uuid.UUID, training_id: uuid.UUID, for_update: bool = False
) -> TrainingItem:
    """`for_update` locks the row (PostgreSQL) so concurrent publishes number versions in
    turn instead of clashing."""
    stmt = org_scoped(TrainingItem, org_id).where(TrainingItem.id == training_id)
    if for_update:
        stmt = stmt.with_for_update()
    item = (await session.scalars(stmt)).first()
    if item is None:
        raise NotFound("Training not found")
    return item


async def list_training(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    training_type: str | None = None,
    is_draft: bool | None = None,
    directory_id: uuid.UUID | None = None,
    channel: str | None = None,
    q: str | None = None,
) -> tuple[list[TrainingItem], str | None]:
    stmt = org_scoped(TrainingItem, org_id)
    if training_type is not None:
        stmt = stmt.where(TrainingItem.type == training_type)
    if is_draft is not None:
        stmt = stmt.where(TrainingItem.is_draft.is_(is_draft))
    if directory_id is not None:
        stmt = stmt.where(TrainingItem.directory_id == directory_id)
    if channel is not None:
        # Entries that apply on the channel: unrestricted ones, or those listing it.
        stmt = stmt.where(
            sa.or_(
                TrainingItem.channel_mask == 0,
                TrainingItem.channel_mask.op("&")(CHANNEL_BITS[channel]) != 0,
            )
        )
    if q:
        pattern = contains_pattern(q)
        stmt = stmt.where(
            sa.or_(
                *(
                    sa.func.lower(column).like(pattern, escape="\\")
                    for column in (
                        TrainingItem.title,
                        TrainingItem.content,
                        TrainingItem.draft_title,
                        TrainingItem.draft_content,
                    )
                )
            )
        )
    stmt = apply_cursor(
        stmt,
        created_col=TrainingItem.created_at,
        id_col=TrainingItem.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda item: (item.created_at, item.id))


async def update_training(
    session: AsyncSession, *, item: TrainingItem, changes: TrainingUpdate
) -> TrainingItem:
    """Partial update (API.md 3.3, drafts and versions). Only the text is versioned; the
    other fields apply at once."""
    fields = changes.model_fields_set
    for required in (
        "title",
        "content",
        "type",
        "is_draft",
        "restricted_to_channels",
        "restricted_to_segments",
        "metadata",
    ):
        if required in fields and getattr(changes, required) is None:
            raise InvalidInput(f"{required} cannot be null")
    start = changes.start_time if "start_time" in fields else item.start_time
    end = changes.end_time if "end_time" in fields else item.end_time
    if start is not None and end is not None and end <= start:
        raise InvalidInput("end_time must be after start_time")
    if "directory_id" in fields and changes.directory_id is not None:
        await get_directory(session, org_id=item.org_id, directory_id=changes.directory_id)

    if changes.type is not None:
        item.type = changes.type
    if "directory_id" in fields:
        item.directory_id = changes.directory_id
    if changes.restricted_to_channels is not None:
        item.restricted_to_channels = list(changes.restricted_to_channels)
        item.channel_mask = channel_mask(changes.restricted_to_channels)
    if changes.restricted_to_segments is not None:
        item.restricted_to_segments = list(changes.restricted_to_segments)
    if changes.metadata is not None:
        item.metadata_ = dict(changes.metadata)
    item.start_time, item.end_time = start, end

    text_edited = changes.title is not None or changes.content is not None
    working_title, working_content = _working_text(item)
    title = changes.title or working_title
    content = changes.content or working_content
    if item.is_draft:
        if changes.is_draft is False:
            _publish(session, item, title=title, content=content)
        elif text_edited:
            _keep_draft(item, title=title, content=content)
    elif changes.is_draft is True:
        if text_edited:
            _keep_draft(item, title=title, content=content)
    elif text_edited or (changes.is_draft is False and item.draft_title is not None):
        if (title, content) == (item.title, item.content):
            item.draft_title = item.draft_content = None
        else:
            _publish(session, item, title=title, content=content)
    item.updated_at = utcnow()
    await session.flush()
    return item


async def set_draft(session: AsyncSession, *, item: TrainingItem, is_draft: bool) -> TrainingItem:
    """false publishes the pending draft as a new version; true unpublishes, moving the text
    (the pending draft if there is one) into the draft."""
    title, content = _working_text(item)
    if not is_draft and (item.is_draft or item.draft_title is not None):
        _publish(session, item, title=title, content=content)
    elif is_draft and not item.is_draft:
        item.is_draft = True
        _keep_draft(item, title=title, content=content)
    item.updated_at = utcnow()
    await session.flush()
    return item


async def move_training(
    session: AsyncSession, *, item: TrainingItem, directory_id: uuid.UUID | None
) -> TrainingItem:
    if directory_id is not None:
        await get_directory(session, org_id=item.org_id, directory_id=directory_id)
    item.directory_id = directory_id
    item.updated_at = utcnow()
    await session.flush()
    return item


async def delete_training(session: AsyncSession, *, item: TrainingItem) -> None:
    await session.execute(sa.delete(TrainingVersion).where(TrainingVersion.training_id == item.id))
    await session.delete(item)
    await session.flush()


# --- versions -----------------------------------------------------------------------------


async def list_versions(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    training_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[TrainingVersion], str | None]:
    """Newest first by version number (not by clock)."""
    stmt = org_scoped(TrainingVersion, org_id).where(TrainingVersion.training_id == training_id)
    if cursor:
        _, raw_version = decode_cursor(cursor)
        try:
            stmt = stmt.where(TrainingVersion.version < int(raw_version))
        except ValueError as exc:
            raise InvalidInput("cursor is not valid") from exc
    stmt = stmt.order_by(TrainingVersion.version.desc()).limit(limit + 1)
    rows = list(await session.scalars(stmt))
    return page_of(rows, limit, lambda row: (row.published_at, row.version))


async def restore_version(
    session: AsyncSession, *, item: TrainingItem, version: int
) -> TrainingItem:
    """Copies that version's text into the draft; the live version keeps serving."""
    row = (
        await session.scalars(
            org_scoped(TrainingVersion, item.org_id).where(
                TrainingVersion.training_id == item.id, TrainingVersion.version == version
            )
        )
    ).first()
    if row is None:
        raise NotFound("Version not found")
    _keep_draft(item, title=row.title, content=row.content)
    item.updated_at = utcnow()
    await session.flush()
    return item


# --- what the AI uses ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveTraining:
    """A published entry as the AI sees it: the live version's text and its restrictions."""

    id: uuid.UUID
    type: str  # BEHAVIORAL | SCENARIO_SPECIFIC
    title: str
    content: str
    version: int
    restricted_to_channels: tuple[str, ...]
    restricted_to_segments: tuple[str, ...]
    start_time: datetime | None
    end_time: datetime | None
    metadata: dict[str, Any]

    def applies(self, *, channel: str, segments: Collection[str], now: datetime) -> bool:
        """In its time window, on an allowed channel, for a contact in an allowed segment
        (segments compare case-insensitively)."""
        if self.start_time is not None and now < self.start_time:
            return False
        if self.end_time is not None and now >= self.end_time:
            return False
        if self.restricted_to_channels and channel not in self.restricted_to_channels:
            return False
        if self.restricted_to_segments:
            wanted = {segment.casefold() for segment in segments}
            return any(segment.casefold() in wanted for segment in self.restricted_to_segments)
        return True


def _as_live(item: TrainingItem) -> LiveTraining:
    return LiveTraining(
        id=item.id,
        type=item.type,
        title=item.title,
        content=item.content,
        version=item.current_version or 0,
        restricted_to_channels=tuple(item.restricted_to_channels),
        restricted_to_segments=tuple(item.restricted_to_segments),
        start_time=item.start_time,
        end_time=item.end_time,
        metadata=dict(item.metadata_),
    )


async def list_live(session: AsyncSession, *, org_id: uuid.UUID) -> list[LiveTraining]:
    """Every published entry, oldest first, whatever its restrictions (e.g. for indexing
    SCENARIO_SPECIFIC entries); filter with `LiveTraining.applies`."""
    rows = await session.scalars(
        org_scoped(TrainingItem, org_id)
        .where(TrainingItem.is_draft.is_(False), TrainingItem.current_version.is_not(None))
        .order_by(TrainingItem.created_at, TrainingItem.id)
    )
    return [_as_live(item) for item in rows]


async def published_for_turn(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    channel: str,
    segments: Collection[str],
    now: datetime,
) -> list[LiveTraining]:
    """The published entries (BEHAVIORAL and SCENARIO_SPECIFIC) that apply to one turn,
    oldest first: in their window at `now`, allowed on `channel`, and for a contact in
    `segments` (its verified segments, see `contacts.service.contact_segments`). Never
    drafts."""
    rows = await session.scalars(
        org_scoped(TrainingItem, org_id)
        .where(
            TrainingItem.is_draft.is_(False),
            TrainingItem.current_version.is_not(None),
            sa.or_(TrainingItem.start_time.is_(None), TrainingItem.start_time <= now),
            sa.or_(TrainingItem.end_time.is_(None), TrainingItem.end_time > now),
            sa.or_(
                TrainingItem.channel_mask == 0,
                TrainingItem.channel_mask.op("&")(CHANNEL_BITS.get(channel, 0)) != 0,
            ),
        )
        .order_by(TrainingItem.created_at, TrainingItem.id)
    )
    live = (_as_live(item) for item in rows)
    return [entry for entry in live if entry.applies(channel=channel, segments=segments, now=now)]
