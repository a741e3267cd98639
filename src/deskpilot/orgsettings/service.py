"""Org settings: office-hours schedules, tags, autopilot modes and topics, handoff rules.
The AI, the widget and sessions read them through the functions at the end of each section."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deskpilot.errors import Conflict, InvalidInput, NotFound
from deskpilot.models import (
    AutopilotSettings,
    HandoffSettings,
    OfficeHoursSchedule,
    OfficeHoursShift,
    Tag,
    WidgetSettings,
    utcnow,
)
from deskpilot.orgsettings import hours

# Re-exported so callers use `service.is_open(...)` etc. on what `office_hours()` returns.
from deskpilot.orgsettings.hours import is_open as is_open
from deskpilot.orgsettings.hours import next_change as next_change
from deskpilot.orgsettings.hours import next_closing as next_closing
from deskpilot.orgsettings.hours import next_opening as next_opening
from deskpilot.orgsettings.schemas import (
    CHANNELS,
    AutopilotMode,
    AutopilotRead,
    AutopilotUpdate,
    Channel,
    ChannelMode,
    DayOfWeek,
    HandoffMode,
    HandoffSettingsRead,
    HandoffSettingsUpdate,
    HandoffToggles,
    OfficeHoursStatus,
    ScheduleInput,
    ScheduleRead,
    ShiftRead,
    TagUpsert,
    WidgetSettingsRead,
    WidgetSettingsUpdate,
    clock_seconds,
    clock_text,
)
from deskpilot.tenancy import org_scoped

MAX_TAGS_PER_ORG = 500

# --- office hours ------------------------------------------------------------------------


async def get_schedule(
    session: AsyncSession, *, org_id: uuid.UUID, schedule_id: uuid.UUID
) -> OfficeHoursSchedule:
    schedule = (
        await session.scalars(
            org_scoped(OfficeHoursSchedule, org_id).where(OfficeHoursSchedule.id == schedule_id)
        )
    ).first()
    if schedule is None:
        raise NotFound("Office hours schedule not found")
    return schedule


async def _shifts_of(
    session: AsyncSession, schedules: Sequence[OfficeHoursSchedule]
) -> dict[uuid.UUID, list[OfficeHoursShift]]:
    by_schedule: dict[uuid.UUID, list[OfficeHoursShift]] = {s.id: [] for s in schedules}
    if schedules:
        org_id = schedules[0].org_id
        rows = await session.scalars(
            org_scoped(OfficeHoursShift, org_id)
            .where(OfficeHoursShift.schedule_id.in_(list(by_schedule)))
            .order_by(OfficeHoursShift.position)
        )
        for shift in rows:
            by_schedule[shift.schedule_id].append(shift)
    return by_schedule


def _read(schedule: OfficeHoursSchedule, shifts: Sequence[OfficeHoursShift]) -> ScheduleRead:
    return ScheduleRead(
        id=schedule.id,
        name=schedule.name,
        iana_timezone=schedule.iana_timezone,
        is_default=schedule.is_default,
        shifts=[
            ShiftRead(
                id=shift.id,
                day_of_week=cast(DayOfWeek, shift.day_of_week),
                start_time=clock_text(shift.start_seconds),
                end_time=clock_text(shift.end_seconds),
                created_at=shift.created_at,
                updated_at=shift.updated_at,
            )
            for shift in shifts
        ],
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


async def schedule_read(session: AsyncSession, *, schedule: OfficeHoursSchedule) -> ScheduleRead:
    shifts = await _shifts_of(session, [schedule])
    return _read(schedule, shifts[schedule.id])


async def list_schedules(session: AsyncSession, *, org_id: uuid.UUID) -> list[ScheduleRead]:
    schedules = list(
        await session.scalars(
            org_scoped(OfficeHoursSchedule, org_id).order_by(
                OfficeHoursSchedule.created_at.desc(), OfficeHoursSchedule.id.desc()
            )
        )
    )
    shifts = await _shifts_of(session, schedules)
    return [_read(schedule, shifts[schedule.id]) for schedule in schedules]


async def _clear_default(session: AsyncSession, *, org_id: uuid.UUID) -> None:
    # Before the new default is flushed: the partial unique index allows one per org.
    await session.execute(
        sa.update(OfficeHoursSchedule)
        .where(OfficeHoursSchedule.org_id == org_id, OfficeHoursSchedule.is_default.is_(True))
        .values(is_default=False)
    )


async def _flush_schedule(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # Only the one-default index can clash: a concurrent request changed the default.
        raise Conflict("The default schedule changed concurrently; try again") from exc


async def create_schedule(
    session: AsyncSession, *, org_id: uuid.UUID, data: ScheduleInput
) -> OfficeHoursSchedule:
    """The org's first schedule is its default until another is marked `is_default`."""
    existing = await session.scalar(
        org_scoped(OfficeHoursSchedule, org_id).with_only_columns(sa.func.count())
    )
    make_default = bool(data.is_default) or not existing
    if make_default:
        await _clear_default(session, org_id=org_id)
    schedule = OfficeHoursSchedule(
        org_id=org_id,
        name=data.name,
        iana_timezone=data.iana_timezone,
        is_default=make_default,
    )
    session.add(schedule)
    await _flush_schedule(session)
    await _replace_shifts(session, schedule=schedule, current=[], data=data)
    await session.flush()
    return schedule


async def _replace_shifts(
    session: AsyncSession,
    *,
    schedule: OfficeHoursSchedule,
    current: Sequence[OfficeHoursShift],
    data: ScheduleInput,
) -> None:
    """Entries whose id matches an existing shift keep it; the others are created; existing
    shifts left out are deleted."""
    now = utcnow()
    kept = {shift.id: shift for shift in current}
    claimed: set[uuid.UUID] = set()
    for position, entry in enumerate(data.shifts):
        start, end = clock_seconds(entry.start_time), clock_seconds(entry.end_time)
        if entry.id is not None and entry.id in kept and entry.id not in claimed:
            shift = kept[entry.id]
            claimed.add(shift.id)
            if (shift.day_of_week, shift.start_seconds, shift.end_seconds, shift.position) != (
                entry.day_of_week,
                start,
                end,
                position,
            ):
                shift.day_of_week = entry.day_of_week
                shift.start_seconds = start
                shift.end_seconds = end
                shift.position = position
                shift.updated_at = now
            continue
        session.add(
            OfficeHoursShift(
                org_id=schedule.org_id,
                schedule_id=schedule.id,
                position=position,
                day_of_week=entry.day_of_week,
                start_seconds=start,
                end_seconds=end,
            )
        )
    for shift_id, shift in kept.items():
        if shift_id not in claimed:
            await session.delete(shift)


async def update_schedule(
    session: AsyncSession, *, schedule: OfficeHoursSchedule, data: ScheduleInput
) -> OfficeHoursSchedule:
    if data.is_default is False and schedule.is_default:
        raise Conflict("This is the default schedule: mark another schedule as default instead")
    if data.is_default and not schedule.is_default:
        await _clear_default(session, org_id=schedule.org_id)
        schedule.is_default = True
    schedule.name = data.name
    schedule.iana_timezone = data.iana_timezone
    schedule.updated_at = utcnow()
    current = (await _shifts_of(session, [schedule]))[schedule.id]
    await _replace_shifts(session, schedule=schedule, current=current, data=data)
    await _flush_schedule(session)
    return schedule


async def delete_schedule(session: AsyncSession, *, schedule: OfficeHoursSchedule) -> None:
    """Deleting the default promotes the oldest remaining schedule."""
    org_id, was_default = schedule.org_id, schedule.is_default
    await session.delete(schedule)
    await session.flush()
    if was_default:
        oldest = (
            await session.scalars(
                org_scoped(OfficeHoursSchedule, org_id)
                .order_by(OfficeHoursSchedule.created_at, OfficeHoursSchedule.id)
                .limit(1)
            )
        ).first()
        if oldest is not None:
            oldest.is_default = True
            oldest.updated_at = utcnow()
            await _flush_schedule(session)


async def find_default_schedule(
    session: AsyncSession, *, org_id: uuid.UUID
) -> OfficeHoursSchedule | None:
    return (
        await session.scalars(
            org_scoped(OfficeHoursSchedule, org_id).where(OfficeHoursSchedule.is_default.is_(True))
        )
    ).first()


async def office_hours(
    session: AsyncSession, *, org_id: uuid.UUID, schedule_id: uuid.UUID | None = None
) -> hours.Schedule | None:
    """The schedule to apply (the given one, else the org's default) as a value for
    `is_open` / `next_opening`; None means no schedule, i.e. always open."""
    schedule = None
    if schedule_id is not None:
        schedule = (
            await session.scalars(
                org_scoped(OfficeHoursSchedule, org_id).where(OfficeHoursSchedule.id == schedule_id)
            )
        ).first()
    if schedule is None:
        schedule = await find_default_schedule(session, org_id=org_id)
    if schedule is None:
        return None
    return schedule_hours(schedule, (await _shifts_of(session, [schedule]))[schedule.id])


def schedule_hours(
    schedule: OfficeHoursSchedule, shifts: Sequence[OfficeHoursShift]
) -> hours.Schedule:
    return hours.Schedule(
        iana_timezone=schedule.iana_timezone,
        shifts=tuple(
            hours.Shift(shift.day_of_week, shift.start_seconds, shift.end_seconds)
            for shift in shifts
        ),
    )


async def office_hours_status(
    session: AsyncSession, *, org_id: uuid.UUID, now: datetime
) -> OfficeHoursStatus:
    schedule = await find_default_schedule(session, org_id=org_id)
    if schedule is None:
        return OfficeHoursStatus(
            is_open=True, schedule_id=None, iana_timezone=None, next_change_at=None
        )
    weekly = schedule_hours(schedule, (await _shifts_of(session, [schedule]))[schedule.id])
    return OfficeHoursStatus(
        is_open=is_open(weekly, now),
        schedule_id=schedule.id,
        iana_timezone=schedule.iana_timezone,
        next_change_at=next_change(weekly, now),
    )


# --- tags --------------------------------------------------------------------------------


def tag_key(name: str) -> str:
    return name.strip().lower()


async def list_tags(session: AsyncSession, *, org_id: uuid.UUID) -> list[Tag]:
    return list(
        await session.scalars(
            org_scoped(Tag, org_id).order_by(Tag.created_at.desc(), Tag.id.desc())
        )
    )


async def find_tag(session: AsyncSession, *, org_id: uuid.UUID, tag_name: str) -> Tag | None:
    return (
        await session.scalars(org_scoped(Tag, org_id).where(Tag.name_key == tag_key(tag_name)))
    ).first()


async def upsert_tag(
    session: AsyncSession, *, org_id: uuid.UUID, data: TagUpsert
) -> tuple[Tag, bool]:
    """Creates the tag or updates the one with the same case-insensitive name; returns it and
    whether it was created. On update, omitted fields stay as they are."""
    tag = await find_tag(session, org_id=org_id, tag_name=data.tag_name)
    fields = data.model_fields_set
    created = tag is None
    if tag is None:
        count = await session.scalar(org_scoped(Tag, org_id).with_only_columns(sa.func.count()))
        if (count or 0) >= MAX_TAGS_PER_ORG:
            raise Conflict(f"An org can have at most {MAX_TAGS_PER_ORG} tags")
        tag = Tag(org_id=org_id, name_key=tag_key(data.tag_name), exclude_from_auto_tagging=False)
        session.add(tag)
    tag.tag_name = data.tag_name  # the latest spelling wins
    if "description" in fields:
        tag.description = data.description
    if data.exclude_from_auto_tagging is not None:
        tag.exclude_from_auto_tagging = data.exclude_from_auto_tagging
    elif "exclude_from_auto_tagging" in fields:
        raise InvalidInput("exclude_from_auto_tagging cannot be null")
    if "category_id" in fields:
        tag.category_id = data.category_id
    tag.updated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The tag '{data.tag_name}' was created concurrently") from exc
    return tag, created


async def delete_tag(session: AsyncSession, *, org_id: uuid.UUID, tag_name: str) -> None:
    tag = await find_tag(session, org_id=org_id, tag_name=tag_name)
    if tag is None:
        raise NotFound("Tag not found")
    await session.delete(tag)
    await session.flush()


async def resolve_tags(
    session: AsyncSession, *, org_id: uuid.UUID, tag_names: Sequence[str]
) -> list[Tag]:
    """The org's tags with these names (case-insensitive), in the order given; an unknown
    name is a 400 naming it. For sessions' `tags` (API.md 3.4: names must exist)."""
    keys = list(dict.fromkeys(tag_key(name) for name in tag_names))
    if not keys:
        return []
    found = {
        tag.name_key: tag
        for tag in await session.scalars(org_scoped(Tag, org_id).where(Tag.name_key.in_(keys)))
    }
    for name in tag_names:
        if tag_key(name) not in found:
            raise InvalidInput(f"tags: unknown tag '{name}'")
    return [found[key] for key in keys]


async def auto_tagging_candidates(session: AsyncSession, *, org_id: uuid.UUID) -> list[Tag]:
    """Tags the AI may apply on its own (API.md 3.7)."""
    return list(
        await session.scalars(
            org_scoped(Tag, org_id)
            .where(Tag.exclude_from_auto_tagging.is_(False))
            .order_by(Tag.name_key)
        )
    )


# --- settings rows -----------------------------------------------------------------------

RowT = TypeVar("RowT", AutopilotSettings, HandoffSettings, WidgetSettings)


async def _locked_row(session: AsyncSession, model: type[RowT], org_id: uuid.UUID) -> RowT:
    """The org's settings row, created with the defaults if missing and locked for this
    transaction (PostgreSQL), so concurrent partial updates never lose each other's fields."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(model).values(org_id=org_id).on_conflict_do_nothing(index_elements=["org_id"])
    )
    row = (await session.scalars(org_scoped(model, org_id).with_for_update())).one()
    return row


def _refuse_nulls(changes: BaseModel, *names: str) -> None:
    """Lists in a partial update can be replaced, never cleared to null."""
    for name in names:
        if name in changes.model_fields_set and getattr(changes, name) is None:
            raise InvalidInput(f"{name} cannot be null")


# --- autopilot ---------------------------------------------------------------------------


def _autopilot_read(row: AutopilotSettings | None) -> AutopilotRead:
    modes = dict(row.channel_modes) if row else {}
    return AutopilotRead(
        channels={
            channel: ChannelMode(mode=cast(AutopilotMode, modes.get(channel, "autopilot")))
            for channel in CHANNELS
        },
        topics=list(row.topics) if row else [],
        updated_at=row.updated_at if row else None,
    )


async def get_autopilot(session: AsyncSession, *, org_id: uuid.UUID) -> AutopilotRead:
    row = (await session.scalars(org_scoped(AutopilotSettings, org_id))).first()
    return _autopilot_read(row)


async def update_autopilot(
    session: AsyncSession, *, org_id: uuid.UUID, changes: AutopilotUpdate
) -> AutopilotRead:
    _refuse_nulls(changes, "channels", "topics")
    row = await _locked_row(session, AutopilotSettings, org_id)
    if changes.channels:
        modes = dict(row.channel_modes)
        for channel, setting in changes.channels.items():
            if setting.mode == "autopilot":
                modes.pop(channel, None)  # the default is not stored
            else:
                modes[channel] = setting.mode
        row.channel_modes = modes
    if changes.topics is not None:
        row.topics = list(changes.topics)
    row.updated_at = utcnow()
    await session.flush()
    return _autopilot_read(row)


async def channel_mode(
    session: AsyncSession, *, org_id: uuid.UUID, channel: Channel
) -> AutopilotMode:
    """How the AI behaves on this channel right now: read per incoming message."""
    return (await get_autopilot(session, org_id=org_id)).channels[channel].mode


# --- handoff -----------------------------------------------------------------------------

# Level names and intent are OpenCX's; the toggle values are deskpilot's (API.md 3.9).
PRESETS: dict[int, HandoffToggles] = {
    0: HandoffToggles(
        enabled=False,
        on_frustration=False,
        on_unproductive_conversation=False,
        unproductive_after_turns=1,
        on_human_request=False,
        require_problem_description=False,
        collect_fields=[],
        outside_office_hours="handoff",
    ),
    1: HandoffToggles(
        enabled=True,
        on_frustration=True,
        on_unproductive_conversation=True,
        unproductive_after_turns=1,
        on_human_request=True,
        require_problem_description=False,
        collect_fields=[],
        outside_office_hours="handoff",
    ),
    2: HandoffToggles(
        enabled=True,
        on_frustration=False,
        on_unproductive_conversation=True,
        unproductive_after_turns=3,
        on_human_request=True,
        require_problem_description=False,
        collect_fields=["name", "email"],
        outside_office_hours="handoff",
    ),
    3: HandoffToggles(
        enabled=True,
        on_frustration=False,
        on_unproductive_conversation=True,
        unproductive_after_turns=5,
        on_human_request=True,
        require_problem_description=True,
        collect_fields=["name", "email"],
        outside_office_hours="handoff",
    ),
}
DEFAULT_ADVANCED = PRESETS[1]
_TOGGLES = tuple(HandoffToggles.model_fields)


def _advanced(row: HandoffSettings | None) -> HandoffToggles:
    if row is None:
        return DEFAULT_ADVANCED.model_copy(deep=True)
    return HandoffToggles.model_validate({name: getattr(row, name) for name in _TOGGLES})


async def _effective(
    session: AsyncSession, *, org_id: uuid.UUID, row: HandoffSettings | None, now: datetime
) -> HandoffToggles:
    if row is None or row.mode == "preset":
        level = row.preset_level if row is not None else 1
        return PRESETS[level].model_copy(deep=True)
    toggles = _advanced(row)
    if toggles.enabled and toggles.outside_office_hours == "ai_only":
        schedule = await office_hours(session, org_id=org_id, schedule_id=row.office_hours_id)
        if schedule is not None and not is_open(schedule, now):
            toggles.enabled = False  # no handoff while the team is away
    return toggles


async def _handoff_read(
    session: AsyncSession, *, org_id: uuid.UUID, row: HandoffSettings | None, now: datetime
) -> HandoffSettingsRead:
    return HandoffSettingsRead(
        mode=cast(HandoffMode, row.mode) if row else "preset",
        preset_level=row.preset_level if row else 1,
        advanced=_advanced(row),
        effective=await _effective(session, org_id=org_id, row=row, now=now),
        office_hours_id=row.office_hours_id if row else None,
        updated_at=row.updated_at if row else None,
    )


async def get_handoff_settings(
    session: AsyncSession, *, org_id: uuid.UUID, now: datetime
) -> HandoffSettingsRead:
    row = (await session.scalars(org_scoped(HandoffSettings, org_id))).first()
    return await _handoff_read(session, org_id=org_id, row=row, now=now)


async def update_handoff_settings(
    session: AsyncSession, *, org_id: uuid.UUID, changes: HandoffSettingsUpdate, now: datetime
) -> HandoffSettingsRead:
    fields = changes.model_fields_set
    for required in ("mode", "preset_level", "advanced"):
        if required in fields and getattr(changes, required) is None:
            raise InvalidInput(f"{required} cannot be null")
    advanced = changes.advanced
    if advanced is not None:
        for name in advanced.model_fields_set:
            if getattr(advanced, name) is None:
                raise InvalidInput(f"advanced.{name} cannot be null")
    if changes.office_hours_id is not None:
        await get_schedule(session, org_id=org_id, schedule_id=changes.office_hours_id)
    row = await _locked_row(session, HandoffSettings, org_id)
    if changes.mode is not None:
        row.mode = changes.mode
    if changes.preset_level is not None:
        row.preset_level = changes.preset_level
    if advanced is not None:
        for name in advanced.model_fields_set:
            setattr(row, name, getattr(advanced, name))
    if "office_hours_id" in fields:
        row.office_hours_id = changes.office_hours_id
    row.updated_at = utcnow()
    await session.flush()
    return await _handoff_read(session, org_id=org_id, row=row, now=now)


async def effective_handoff(
    session: AsyncSession, *, org_id: uuid.UUID, now: datetime
) -> HandoffToggles:
    """The handoff toggles in force at `now` (preset table or advanced block, with
    `ai_only` switching handoff off while the office-hours schedule is closed)."""
    row = (await session.scalars(org_scoped(HandoffSettings, org_id))).first()
    return await _effective(session, org_id=org_id, row=row, now=now)


# --- widget settings ---------------------------------------------------------------------


def _widget_read(row: WidgetSettings | None) -> WidgetSettingsRead:
    if row is None:
        return WidgetSettingsRead(
            initial_questions=[],
            initial_messages=[],
            bot_name=None,
            bot_avatar_url=None,
            primary_color=None,
            updated_at=None,
        )
    return WidgetSettingsRead(
        initial_questions=list(row.initial_questions),
        initial_messages=list(row.initial_messages),
        bot_name=row.bot_name,
        bot_avatar_url=row.bot_avatar_url,
        primary_color=row.primary_color,
        updated_at=row.updated_at,
    )


async def get_widget_settings(session: AsyncSession, *, org_id: uuid.UUID) -> WidgetSettingsRead:
    row = (await session.scalars(org_scoped(WidgetSettings, org_id))).first()
    return _widget_read(row)


async def update_widget_settings(
    session: AsyncSession, *, org_id: uuid.UUID, changes: WidgetSettingsUpdate
) -> WidgetSettingsRead:
    _refuse_nulls(changes, "initial_questions", "initial_messages")
    fields = changes.model_fields_set
    row = await _locked_row(session, WidgetSettings, org_id)
    if changes.initial_questions is not None:
        row.initial_questions = list(dict.fromkeys(changes.initial_questions))
    if changes.initial_messages is not None:
        row.initial_messages = list(changes.initial_messages)
    if "bot_name" in fields:
        row.bot_name = changes.bot_name
    if "bot_avatar_url" in fields:
        avatar = changes.bot_avatar_url
        row.bot_avatar_url = str(avatar) if avatar is not None else None
    if "primary_color" in fields:
        row.primary_color = changes.primary_color.lower() if changes.primary_color else None
    row.updated_at = utcnow()
    await session.flush()
    return _widget_read(row)
