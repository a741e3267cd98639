"""Weekly office-hours arithmetic on wall-clock time in a schedule's zone: is it open at an
instant, and when does it next open or close. Pure functions, no database."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = 86_400
WEEK = 7 * DAY

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_RANGES: dict[str, tuple[int, ...]] = {
    **{name: (index,) for index, name in enumerate(WEEKDAYS)},
    "monday_to_friday": (0, 1, 2, 3, 4),
    "saturday_to_sunday": (5, 6),
    "everyday": (0, 1, 2, 3, 4, 5, 6),
}


@dataclass(frozen=True, slots=True)
class Shift:
    day_of_week: str
    start_seconds: int  # wall-clock seconds since local midnight, 0 ≤ start < end
    end_seconds: int  # ≤ 86400 (24:00:00)


@dataclass(frozen=True, slots=True)
class Schedule:
    iana_timezone: str
    shifts: tuple[Shift, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.iana_timezone)


@functools.lru_cache(maxsize=256)
def _week(shifts: tuple[Shift, ...]) -> tuple[tuple[int, int], ...]:
    """Open intervals in seconds since Monday 00:00 local, merged where they overlap or
    touch. An interval may run past the week's end when Sunday night joins Monday morning."""
    spans = sorted(
        (day * DAY + shift.start_seconds, day * DAY + shift.end_seconds)
        for shift in shifts
        for day in DAY_RANGES[shift.day_of_week]
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if len(merged) > 1 and merged[0][0] == 0 and merged[-1][1] == WEEK:
        # Open across Sunday → Monday: one stretch, so no closing at the week boundary.
        first = merged.pop(0)
        merged[-1][1] = WEEK + first[1]
    return tuple((start, end) for start, end in merged)


def _week_second(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return local.weekday() * DAY + local.hour * 3600 + local.minute * 60 + local.second


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Open when the local wall-clock time at `at` falls in a shift (start inclusive, end
    exclusive)."""
    second = _week_second(at, schedule.zone)
    return any(
        start <= second < end or start <= second + WEEK < end
        for start, end in _week(schedule.shifts)
    )


def _instant(day: date, seconds: int, zone: ZoneInfo) -> datetime:
    """The first instant at which the wall clock of `zone` reads `seconds` past midnight of
    `day` or later. A time skipped by a DST jump maps to the moment of the jump."""
    wall = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(seconds=seconds)
    naive = wall.replace(tzinfo=None)
    earliest = wall.astimezone(UTC)
    if earliest.astimezone(zone).replace(tzinfo=None) == naive:
        return earliest
    # In a gap: fold=1 resolves with the later offset, landing before the jump; the jump is
    # the first instant whose wall clock has passed `wall`. Bisect to the second.
    low = wall.replace(fold=1).astimezone(UTC)
    high = earliest
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _next_boundary(schedule: Schedule, after: datetime, *, opening: bool) -> datetime | None:
    """The first opening (or closing) instant strictly after `after`."""
    zone = schedule.zone
    # Week-seconds of each boundary; a closing at 24:00 is the next day's 00:00.
    points = sorted({(start if opening else end) % WEEK for start, end in _week(schedule.shifts)})
    if not points:
        return None
    today = after.astimezone(zone).date()
    # Scanning from yesterday to eight days ahead meets every weekly boundary once, whatever
    # the zone's offset from `after`'s.
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        for point in points:
            if point // DAY != day.weekday():
                continue
            moment = _instant(day, point % DAY, zone)
            if moment > after:
                return moment  # points are sorted, and instants grow with them in a day
    return None


def next_opening(schedule: Schedule, after: datetime) -> datetime | None:
    """`after` itself when open then; otherwise the next instant the schedule opens (None
    only for a schedule without shifts)."""
    if is_open(schedule, after):
        return after
    return _next_boundary(schedule, after, opening=True)


def next_closing(schedule: Schedule, after: datetime) -> datetime | None:
    """The next instant after `after` at which the schedule closes; None when it never does
    (open around the clock) or has no shifts."""
    if not schedule.shifts or all(end - start >= WEEK for start, end in _week(schedule.shifts)):
        return None
    return _next_boundary(schedule, after, opening=False)


def next_change(schedule: Schedule, after: datetime) -> datetime | None:
    """When the open/closed state next flips."""
    if is_open(schedule, after):
        return next_closing(schedule, after)
    return next_opening(schedule, after)
