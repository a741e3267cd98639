"""Office-hours arithmetic: wall-clock shifts across DST changes, day ranges that wrap the
week, merged and back-to-back shifts."""

from __future__ import annotations

from datetime import UTC, datetime

from deskpilot.orgsettings.hours import Schedule, Shift
from deskpilot.orgsettings.service import is_open, next_change, next_closing, next_opening

H = 3600


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NEW_YORK_OFFICE = Schedule("America/New_York", (Shift("monday_to_friday", 9 * H, 17 * H),))


class TestIsOpen:
    def test_weekday_shift_in_local_time(self):
        # Tue 2025-01-14 09:30 EST = 14:30 UTC
        assert is_open(NEW_YORK_OFFICE, at(2025, 1, 14, 14, 30))
        assert not is_open(NEW_YORK_OFFICE, at(2025, 1, 14, 13, 59))
        # The end is exclusive: 17:00 EST = 22:00 UTC.
        assert not is_open(NEW_YORK_OFFICE, at(2025, 1, 14, 22, 0))
        assert not is_open(NEW_YORK_OFFICE, at(2025, 1, 18, 15, 0))  # Saturday

    def test_wall_clock_follows_daylight_saving(self):
        # 09:00 local is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
        assert not is_open(NEW_YORK_OFFICE, at(2025, 3, 7, 13, 30))  # Fri before the change
        assert is_open(NEW_YORK_OFFICE, at(2025, 3, 10, 13, 30))  # Mon after it
        assert is_open(NEW_YORK_OFFICE, at(2025, 11, 3, 14, 30))  # back to EST
        assert not is_open(NEW_YORK_OFFICE, at(2025, 11, 3, 13, 30))

    def test_end_of_day_and_overlaps_merge(self):
        schedule = Schedule(
            "Europe/Berlin",
            (
                Shift("friday", 20 * H, 86_400),
                Shift("friday", 9 * H, 12 * H),
                Shift("friday", 11 * H, 21 * H),
            ),
        )
        # Fri 2025-01-17 23:59 CET = 22:59 UTC
        assert is_open(schedule, at(2025, 1, 17, 22, 59))
        assert not is_open(schedule, at(2025, 1, 17, 23, 0))  # Saturday 00:00 local
        assert next_closing(schedule, at(2025, 1, 17, 10, 0)) == at(2025, 1, 17, 23, 0)


class TestNextOpening:
    def test_is_now_when_open(self):
        moment = at(2025, 1, 14, 15, 0)
        assert next_opening(NEW_YORK_OFFICE, moment) == moment

    def test_over_a_weekend_with_a_dst_change(self):
        # Fri 2025-03-07 18:00 EST; clocks spring forward on Sunday 9 March; Monday 09:00
        # EDT is 13:00 UTC, an hour earlier in UTC than the previous Monday.
        assert next_opening(NEW_YORK_OFFICE, at(2025, 3, 7, 23, 0)) == at(2025, 3, 10, 13, 0)
        assert next_opening(NEW_YORK_OFFICE, at(2025, 3, 1, 12, 0)) == at(2025, 3, 3, 14, 0)

    def test_fall_back(self):
        # Sunday 2 November 2025 the clocks fall back; Monday 09:00 EST = 14:00 UTC.
        assert next_opening(NEW_YORK_OFFICE, at(2025, 10, 31, 22, 0)) == at(2025, 11, 3, 14, 0)

    def test_opening_inside_the_skipped_hour_is_the_jump(self):
        # 02:30 does not exist on 9 March 2025 in New York: the clock jumps 02:00 → 03:00
        # EDT (07:00 UTC), and from then on the shift is open.
        schedule = Schedule("America/New_York", (Shift("sunday", 2 * H + 1800, 5 * H),))
        opening = next_opening(schedule, at(2025, 3, 9, 5, 0))
        assert opening == at(2025, 3, 9, 7, 0)
        assert is_open(schedule, opening)
        assert not is_open(schedule, at(2025, 3, 9, 6, 59, 59))

    def test_day_range_wraps_the_week(self):
        # Weekend shift in Tokyo (UTC+9): from Monday morning the next opening is Saturday.
        schedule = Schedule("Asia/Tokyo", (Shift("saturday_to_sunday", 10 * H, 16 * H),))
        assert next_opening(schedule, at(2025, 1, 13, 0, 0)) == at(2025, 1, 18, 1, 0)
        # Sunday 16:00 local (07:00 UTC) closes; the next opening is the Saturday after.
        assert next_opening(schedule, at(2025, 1, 19, 7, 0)) == at(2025, 1, 25, 1, 0)

    def test_none_without_shifts(self):
        assert next_opening(Schedule("UTC", ()), at(2025, 1, 1)) is None


class TestNextClosing:
    def test_sunday_night_runs_into_monday_morning(self):
        schedule = Schedule(
            "UTC",
            (Shift("saturday_to_sunday", 18 * H, 86_400), Shift("monday", 0, 6 * H)),
        )
        # Sun 2025-01-19 20:00: open until Monday 06:00, not Sunday midnight.
        assert is_open(schedule, at(2025, 1, 20, 0, 0))
        assert next_closing(schedule, at(2025, 1, 19, 20, 0)) == at(2025, 1, 20, 6, 0)
        # Saturday's evening ends at midnight: Sunday's shift only starts at 18:00.
        assert next_closing(schedule, at(2025, 1, 18, 19, 0)) == at(2025, 1, 19, 0, 0)

    def test_never_when_open_around_the_clock(self):
        schedule = Schedule("Europe/Paris", (Shift("everyday", 0, 86_400),))
        assert is_open(schedule, at(2025, 3, 30, 1, 30))  # during the DST jump
        assert next_closing(schedule, at(2025, 1, 1)) is None
        assert next_change(schedule, at(2025, 1, 1)) is None

    def test_next_change_flips_between_closing_and_opening(self):
        assert next_change(NEW_YORK_OFFICE, at(2025, 1, 14, 15, 0)) == at(2025, 1, 14, 22, 0)
        assert next_change(NEW_YORK_OFFICE, at(2025, 1, 14, 22, 0)) == at(2025, 1, 15, 14, 0)
