"""Business-time arithmetic across nights, weekends, holidays, 调休 days and pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from shared.sla.calendar import ALWAYS_OPEN, BusinessCalendar, parse_hours

WEEK = {d: parse_hours(["09:00-12:00", "13:00-17:00"]) for d in range(5)}
CAL = BusinessCalendar(
    name="test",
    timezone="Asia/Shanghai",
    hours={**WEEK, 5: parse_hours(["09:00-12:00"]), 6: ()},
    holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
    extra_working_days=frozenset({date(2026, 10, 11)}),  # a Sunday worked instead
    workday=parse_hours(["09:00-12:00", "13:00-17:00"]),
)


def sh(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def test_within_one_morning() -> None:
    assert CAL.add_open_time(sh(2026, 11, 26, 9), timedelta(hours=2)) == sh(2026, 11, 26, 11)


def test_lunch_break_is_skipped() -> None:
    assert CAL.add_open_time(sh(2026, 11, 26, 11), timedelta(hours=2)) == sh(2026, 11, 26, 14)


def test_overnight() -> None:
    # Thursday 16:00 + 2 h → Friday 10:00
    assert CAL.add_open_time(sh(2026, 11, 26, 16), timedelta(hours=2)) == sh(2026, 11, 27, 10)


def test_weekend_saturday_morning_then_monday() -> None:
    # Friday 16:00 + 8 h = Fri 1 h + Sat 3 h + Mon 09-12 (3 h) + 13:00-14:00
    assert CAL.add_open_time(sh(2026, 11, 27, 16), timedelta(hours=8)) == sh(2026, 11, 30, 14)


def test_start_outside_hours_counts_from_opening() -> None:
    assert CAL.add_open_time(sh(2026, 11, 26, 20), timedelta(minutes=30)) == sh(2026, 11, 27, 9, 30)


def test_holidays_and_extra_working_day() -> None:
    # Wed 30 Sep 16:00 + 2 h: 1 h on Wed, Thu/Fri holidays, Sat 3 Oct 09:00-10:00
    assert CAL.add_open_time(sh(2026, 9, 30, 16), timedelta(hours=2)) == sh(2026, 10, 3, 10)
    # Sunday 11 Oct is worked instead of a holiday
    assert CAL.is_open(sh(2026, 10, 11, 10))
    assert not CAL.is_open(sh(2026, 10, 4, 10))


def test_month_end() -> None:
    assert CAL.add_open_time(sh(2026, 12, 31, 16), timedelta(hours=1)) == sh(2026, 12, 31, 17)
    assert CAL.add_open_time(sh(2026, 12, 31, 16), timedelta(hours=2)) == sh(2027, 1, 1, 10)


def test_pause_moves_the_deadline_by_the_paused_open_time() -> None:
    start = sh(2026, 11, 26, 9)
    pause = (sh(2026, 11, 26, 10), sh(2026, 11, 26, 15))  # 4 open hours (lunch excluded)
    plain = CAL.add_open_time(start, timedelta(hours=6))
    paused = CAL.add_open_time(start, timedelta(hours=6), [pause])
    assert plain == sh(2026, 11, 26, 16)
    assert paused == sh(2026, 11, 27, 12)
    assert CAL.open_time_between(plain, paused) == timedelta(hours=4)


def test_open_time_between_matches_add() -> None:
    start = sh(2026, 11, 27, 16)
    end = CAL.add_open_time(start, timedelta(hours=8))
    assert CAL.open_time_between(start, end) == timedelta(hours=8)


def test_always_open_is_calendar_time() -> None:
    start = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert ALWAYS_OPEN.add_open_time(start, timedelta(days=15)) == start + timedelta(days=15)


@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 40),
    offset=st.integers(min_value=0, max_value=60 * 24 * 14),
    pause_len=st.integers(min_value=0, max_value=60 * 24 * 5),
)
def test_properties(minutes: int, offset: int, pause_len: int) -> None:
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC) + timedelta(minutes=offset)
    duration = timedelta(minutes=minutes)
    due = CAL.add_open_time(start, duration)
    # never earlier than the calendar time, and exactly the asked open time in between
    assert due >= start + min(duration, timedelta(0))
    assert CAL.open_time_between(start, due) == duration
    # a pause never makes a deadline earlier, and moves it by exactly the paused open time
    pause = (start + timedelta(minutes=1), start + timedelta(minutes=1 + pause_len))
    paused_due = CAL.add_open_time(start, duration, [pause])
    assert paused_due >= due
    assert CAL.open_time_between(start, paused_due, [pause]) == duration
