"""Office-hours pages (admins only): the org's schedules with their shifts, whether the team
is open now, and forms to create, replace, make default and delete a schedule, through the
same service as the /office-hours routes (API.md 3.6)."""

from __future__ import annotations

import functools
import re
import zoneinfo
from itertools import zip_longest
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from deskpilot.dashboard.access import ActingAdmin, AdminStaff, PageRoute, Staff
from deskpilot.dashboard.forms import path_id
from deskpilot.dashboard.settings import (
    Done,
    FormRefused,
    checked,
    form_list,
    form_text,
    refusal,
    render_settings,
    saved,
    validated,
)
from deskpilot.deps import AppState, Db, State
from deskpilot.errors import Conflict, InvalidInput
from deskpilot.models import OfficeHoursSchedule, utcnow
from deskpilot.orgsettings import service
from deskpilot.orgsettings.schemas import END_OF_DAY, ScheduleInput, ScheduleRead

router = APIRouter(route_class=PageRoute, include_in_schema=False)

DAYS = (
    ("monday_to_friday", "Monday to Friday"),
    ("everyday", "Every day"),
    ("saturday_to_sunday", "Saturday and Sunday"),
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
)
DAY_NAMES = dict(DAYS)
BLANK_ROWS = 3
LABELS = {
    "name": "The name",
    "iana_timezone": "The time zone",
    "shifts": "The schedule",
    "shifts.*": "Shift {0}",
    "shifts.*.id": "Shift {0}",
    "shifts.*.day_of_week": "Shift {0}'s day",
    "shifts.*.start_time": "Shift {0}'s start",
    "shifts.*.end_time": "Shift {0}'s end",
    "start_time": "its start",
    "is_default": "Default",
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@functools.cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def clock(value: str, label: str) -> str:
    """`9:00`, `09:00` or `09:00:00` as the API's `HH:MM:SS`; `24:00` ends the day."""
    match = _TIME.match(value.strip())
    if match is None:
        raise FormRefused(f"{label} must be a time of day such as 09:00 or 17:30")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hours, minutes, seconds) == (24, 0, 0):
        return END_OF_DAY
    if hours > 23 or minutes > 59 or seconds > 59:
        raise FormRefused(f"{label} must be a time of day such as 09:00 or 17:30")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _short(value: str) -> str:
    """`09:00:00` as `09:00` for people."""
    return value[:5] if value.endswith(":00") else value


def _values_of(schedule: ScheduleRead | None) -> dict[str, Any]:
    if schedule is None:
        shifts = [{"id": "", "day_of_week": "monday_to_friday", "start": "09:00", "end": "17:00"}]
        return {"name": "", "iana_timezone": "", "is_default": False, "shifts": shifts}
    return {
        "name": schedule.name,
        "iana_timezone": schedule.iana_timezone,
        "is_default": schedule.is_default,
        "shifts": [
            {
                "id": str(shift.id),
                "day_of_week": shift.day_of_week,
                "start": _short(shift.start_time),
                "end": _short(shift.end_time),
            }
            for shift in schedule.shifts
        ],
    }


def _submitted(form: FormData) -> dict[str, Any]:
    rows = zip_longest(
        form_list(form, "shift_id"),
        form_list(form, "shift_day"),
        form_list(form, "shift_start"),
        form_list(form, "shift_end"),
        fillvalue="",
    )
    shifts = [
        {"id": shift_id, "day_of_week": day, "start": start, "end": end}
        for shift_id, day, start, end in rows
        # A blank row is room for another shift, not a shift.
        if day.strip() or start.strip() or end.strip()
    ]
    return {
        "name": form_text(form, "name"),
        "iana_timezone": form_text(form, "iana_timezone").strip(),
        "is_default": checked(form, "is_default"),
        "shifts": shifts,
    }


def _body(values: dict[str, Any]) -> dict[str, Any]:
    shifts = []
    for number, shift in enumerate(values["shifts"], start=1):
        shifts.append(
            {
                "id": shift["id"] or None,
                "day_of_week": shift["day_of_week"],
                "start_time": clock(shift["start"], f"Shift {number}'s start"),
                "end_time": clock(shift["end"], f"Shift {number}'s end"),
            }
        )
    return {
        "name": values["name"],
        "iana_timezone": values["iana_timezone"],
        "shifts": shifts,
        # Unticked = unchanged: the default moves by marking another schedule.
        "is_default": True if values["is_default"] else None,
    }


def _form_rows(values: dict[str, Any]) -> dict[str, Any]:
    """The values with empty rows to add shifts in, without JavaScript."""
    blank = {"id": "", "day_of_week": "", "start": "", "end": ""}
    return {**values, "shifts": [*values["shifts"], *([blank] * BLANK_ROWS)]}


async def _page(
    request: Request,
    state: AppState,
    staff: Staff,
    db: Db,
    *,
    schedule: OfficeHoursSchedule | None,
    values: dict[str, Any],
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The schedule form: on the list of schedules (a new one), or on a schedule's own page."""
    if schedule is None:
        template, title = "settings/office_hours.html", "Office hours"
        context: dict[str, Any] = {
            "schedules": await service.list_schedules(db, org_id=staff.org.id),
            "status": await service.office_hours_status(db, org_id=staff.org.id, now=utcnow()),
            "day_names": DAY_NAMES,
            "short": _short,
        }
    else:
        template, title = "settings/office_hours_edit.html", f"Office hours: {schedule.name}"
        context = {"schedule": schedule}
    return render_settings(
        request,
        state,
        staff,
        template,
        title=title,
        section="office-hours",
        done=done,
        error=error,
        status_code=status_code,
        values=_form_rows(values),
        days=DAYS,
        time_zones=time_zones(),
        **context,
    )


@router.get("/settings/office-hours", response_class=HTMLResponse)
async def office_hours(
    request: Request, staff: AdminStaff, db: Db, state: State, done: Done = None
) -> Response:
    return await _page(request, state, staff, db, schedule=None, values=_values_of(None), done=done)


@router.post("/settings/office-hours", response_class=HTMLResponse)
async def create_schedule(request: Request, staff: ActingAdmin, db: Db, state: State) -> Response:
    values = _submitted(await request.form())
    try:
        data = validated(ScheduleInput, _body(values), LABELS)
        async with db.begin_nested():
            await service.create_schedule(db, org_id=staff.org.id, data=data)
    except (InvalidInput, Conflict) as exc:
        message, status_code = refusal(exc, LABELS)
        return await _page(
            request,
            state,
            staff,
            db,
            schedule=None,
            values=values,
            error=message,
            status_code=status_code,
        )
    return saved("/settings/office-hours", "schedule-created")


async def _schedule(db: Db, staff: Staff, schedule_id: str) -> OfficeHoursSchedule:
    return await service.get_schedule(
        db, org_id=staff.org.id, schedule_id=path_id(schedule_id, "Office hours schedule")
    )


@router.get("/settings/office-hours/{schedule_id}", response_class=HTMLResponse)
async def edit_schedule(
    schedule_id: str,
    request: Request,
    staff: AdminStaff,
    db: Db,
    state: State,
    done: Done = None,
) -> Response:
    schedule = await _schedule(db, staff, schedule_id)
    values = _values_of(await service.schedule_read(db, schedule=schedule))
    return await _page(request, state, staff, db, schedule=schedule, values=values, done=done)


@router.post("/settings/office-hours/{schedule_id}", response_class=HTMLResponse)
async def replace_schedule(
    schedule_id: str, request: Request, staff: ActingAdmin, db: Db, state: State
) -> Response:
    schedule = await _schedule(db, staff, schedule_id)
    values = _submitted(await request.form())
    try:
        data = validated(ScheduleInput, _body(values), LABELS)
        async with db.begin_nested():
            await service.update_schedule(db, schedule=schedule, data=data)
    except (InvalidInput, Conflict) as exc:
        message, status_code = refusal(exc, LABELS)
        await db.refresh(schedule)  # as stored: the savepoint undid anything half-done
        return await _page(
            request,
            state,
            staff,
            db,
            schedule=schedule,
            values=values,
            error=message,
            status_code=status_code,
        )
    return saved(f"/settings/office-hours/{schedule.id}", "schedule-saved")


@router.post("/settings/office-hours/{schedule_id}/delete")
async def delete_schedule(schedule_id: str, staff: ActingAdmin, db: Db) -> Response:
    schedule = await _schedule(db, staff, schedule_id)
    await service.delete_schedule(db, schedule=schedule)
    return saved("/settings/office-hours", "schedule-deleted")
