"""The per-day interval cache of ``BusinessCalendar`` answers exactly what computing afresh answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sla import calendar as calendar_module
from shared.sla.calendar import BusinessCalendar, Interval, _at

ZONES = ["UTC", "Asia/Shanghai", "Europe/London", "America/New_York", "Australia/Lord_Howe"]


def uncached_open_intervals(cal: BusinessCalendar, start: datetime) -> Iterator[Interval]:
    """The algorithm before the cache: every day's bounds converted afresh."""
    tz = ZoneInfo(cal.timezone)
    day = start.astimezone(tz).date()
    for _ in range(3 * 366):
        for begin, end in cal.day_hours(day):
            lo, hi = _at(day, begin, tz), _at(day, end, tz)
            if hi <= start:
                continue
            yield max(lo, start), hi
        day += timedelta(days=1)


minutes = st.integers(0, 1440)
day_hours = st.lists(st.tuples(minutes, minutes), max_size=3).map(
    lambda pairs: tuple(sorted((min(a, b), max(a, b)) for a, b in pairs if a != b))
)
days = st.dates(date(2025, 1, 1), date(2028, 12, 31))
calendars = st.builds(
    BusinessCalendar,
    name=st.just("prop"),
    timezone=st.sampled_from(ZONES),
    hours=st.dictionaries(st.integers(0, 6), day_hours),
    holidays=st.frozensets(days, max_size=20),
    extra_working_days=st.frozensets(days, max_size=5),
    workday=day_hours,
)
moments = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 1), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(calendars, moments, st.integers(1, 60 * 24 * 20), st.lists(moments, max_size=3))
def test_cached_equals_uncached(
    cal: BusinessCalendar, start: datetime, minutes: int, others: list[datetime]
) -> None:
    # warm the cache from other starting points first: a cached day must answer any later start
    for other in others:
        list(itertools.islice(cal.open_intervals(other), 10))
    for moment in [start, *others]:
        if cal.always_open:  # one merged interval: test_calendar_always_open checks its sums
            break
        cached = list(itertools.islice(cal.open_intervals(moment), 40))
        fresh = list(itertools.islice(uncached_open_intervals(cal, moment), 40))
        assert cached == fresh
    end = start + timedelta(minutes=minutes)
    fresh_cal = BusinessCalendar(
        cal.name, cal.timezone, cal.hours, cal.holidays, cal.extra_working_days, cal.workday
    )
    assert cal.open_time_between(start, end) == fresh_cal.open_time_between(start, end)


def test_cache_is_bounded_and_not_part_of_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar_module, "_CACHED_DAYS", 5)
    cal = BusinessCalendar(timezone="Europe/London")
    twin = BusinessCalendar(timezone="Europe/London")
    start = datetime(2026, 3, 20, tzinfo=UTC)
    assert cal.add_open_time(start, timedelta(days=20)) == start + timedelta(days=20)
    assert len(cal._days) <= 5
    assert cal == twin  # the cache does not change equality
    assert " _days=" not in repr(cal)


def test_dst_day_is_23_hours_in_london() -> None:
    cal = BusinessCalendar(timezone="Europe/London")
    (lo, hi) = cal.day_intervals(date(2026, 3, 29))[0]
    assert hi - lo == timedelta(hours=23)
    assert cal.day_intervals(date(2026, 3, 29)) is cal.day_intervals(date(2026, 3, 29))
