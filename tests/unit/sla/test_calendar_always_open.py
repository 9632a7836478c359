"""An always-open calendar answers in one step what the day-by-day walk answers (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.sla.calendar import ALWAYS_OPEN, BusinessCalendar

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"]
FULL = ((0, 1440),)

moments = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 1), timezones=st.just(UTC))
pauses = st.lists(st.tuples(moments, st.integers(0, 60 * 24 * 10)), max_size=3).map(
    lambda ps: sorted((lo, lo + timedelta(minutes=m)) for lo, m in ps)
)


def pair(zone: str) -> tuple[BusinessCalendar, BusinessCalendar]:
    """The same always-open calendar twice; the second walks day by day as before issue 19."""
    fast = BusinessCalendar("fast", zone, {d: FULL for d in range(7)})
    walked = BusinessCalendar("walked", zone, {d: FULL for d in range(7)})
    walked.__dict__["always_open"] = False  # the cached property, decided for this instance
    assert fast.always_open and not walked.always_open
    return fast, walked


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), moments, st.integers(0, 60 * 24 * 120), pauses, moments)
# a start at local midnight: the walk answers in the zone of the day's start, not of ``start``
@example("UTC", datetime(2025, 1, 1, tzinfo=UTC), 1, [], datetime(2025, 1, 1, tzinfo=UTC))
def test_one_step_equals_the_walk(
    zone: str, start: datetime, minutes: int, closed: list[tuple[datetime, datetime]], other: datetime
) -> None:
    fast, walked = pair(zone)
    duration = timedelta(minutes=minutes)
    for begin in (start, start.astimezone(ZoneInfo("Asia/Shanghai"))):
        due = fast.add_open_time(begin, duration, closed)
        # the same moment, in the same zone (a due time shown or stored looks the same)
        assert due.isoformat() == walked.add_open_time(begin, duration, closed).isoformat()
    assert fast.open_time_between(start, other, closed) == walked.open_time_between(start, other, closed)


def test_what_counts_as_always_open() -> None:
    assert ALWAYS_OPEN.always_open
    assert not BusinessCalendar(holidays=frozenset({datetime(2026, 1, 1).date()})).always_open
    assert not BusinessCalendar(hours={d: FULL for d in range(6)}).always_open
    weekend_worked = BusinessCalendar(
        extra_working_days=frozenset({datetime(2026, 2, 14).date()}), workday=((540, 1020),)
    )
    assert not weekend_worked.always_open


def test_the_search_window_still_ends() -> None:
    start = datetime(2026, 3, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="no open time"):
        ALWAYS_OPEN.add_open_time(start, timedelta(days=4 * 366))
    walked = pair("UTC")[1]
    assert ALWAYS_OPEN.open_time_between(start, start + timedelta(days=2000)) == walked.open_time_between(
        start, start + timedelta(days=2000)
    )
