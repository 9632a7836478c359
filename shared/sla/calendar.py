"""Business calendars: when a branch is open, and time arithmetic that counts only open time.

Pure: no I/O, no clock. Policies that count calendar time use :data:`ALWAYS_OPEN`; pauses (waiting
on the customer, external appraisal) are passed in as extra closed intervals, so one algorithm
covers nights, weekends, holidays and pauses alike.

A day's open intervals in UTC are computed once per calendar instance and day (a bounded cache on
the instance): the time-zone conversions were a fifth of a command's CPU when every deadline
recomputed them (issue 19). Calendars are immutable, so a cached day never goes stale.

A calendar open all day every day (:data:`ALWAYS_OPEN`, what every calendar-time SLA and
regulatory clock counts in) has one open interval from the end of any day to the end of the
search window: its days touch, so walking them one by one (15 to 56 iterations for a regulatory
clock, several clocks per command) gave the same sums as one step (issue 19: that walk was a third of a
complaint create's pure CPU).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]
#: minutes since local midnight, [start, end), end may be 1440
DayHours = tuple[tuple[int, int], ...]

_MAX_DAYS = 3 * 366  # no SLA runs for years; a bound keeps a misconfigured calendar from spinning
#: days of open intervals one calendar keeps (a few years); past that the cache starts afresh
_CACHED_DAYS = 4096


@dataclass(frozen=True)
class BusinessCalendar:
    name: str = "always_open"
    timezone: str = "UTC"
    #: weekday (Monday = 0) → open intervals in local minutes
    hours: Mapping[int, DayHours] = field(default_factory=lambda: {d: ((0, 1440),) for d in range(7)})
    holidays: frozenset[date] = frozenset()
    #: weekend days worked instead of a holiday (调休): they use ``workday`` hours
    extra_working_days: frozenset[date] = frozenset()
    workday: DayHours = ((0, 1440),)
    #: local day → its open intervals in UTC (not part of the value: equality and repr ignore it)
    _days: dict[date, tuple[Interval, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    #: local day → its start, its end and where a search from it stops (:meth:`_window`)
    _ends: dict[date, tuple[datetime, datetime, datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_hours(self, day: date) -> DayHours:
        if day in self.holidays:
            return ()
        if day in self.extra_working_days:
            return self.workday
        return tuple(self.hours.get(day.weekday(), ()))

    @cached_property
    def always_open(self) -> bool:
        """Open all day on every day: its open time is one unbroken interval."""
        full = ((0, 1440),)
        return (
            not self.holidays
            and all(tuple(self.hours.get(d, ())) == full for d in range(7))
            and (not self.extra_working_days or tuple(self.workday) == full)
        )

    def open_intervals(self, start: datetime) -> Iterator[Interval]:
        """Open intervals from ``start`` onwards, in UTC, in order (adjacent days of an
        always-open calendar as one interval, ending where the day-by-day walk would stop)."""
        day = start.astimezone(self.tz).date()
        if self.always_open:
            # the first day as the walk yields it (an answer within it keeps ``start``'s zone),
            # then every later day as one interval
            begin, first, end = self._window(day)
            if first > start:
                yield max(begin, start), first
            if end > first:
                yield first, end
            return
        for _ in range(_MAX_DAYS):
            for lo, hi in self.day_intervals(day):
                if hi <= start:
                    continue
                yield max(lo, start), hi
            day += timedelta(days=1)

    def day_intervals(self, day: date) -> tuple[Interval, ...]:
        """The open intervals of local ``day``, in UTC (cached per day)."""
        intervals = self._days.get(day)
        if intervals is None:
            if len(self._days) >= _CACHED_DAYS:
                self._days.clear()
            tz = self.tz
            intervals = tuple((_at(day, b, tz), _at(day, e, tz)) for b, e in self.day_hours(day))
            self._days[day] = intervals
        return intervals

    def _window(self, day: date) -> tuple[datetime, datetime, datetime]:
        """Start and end of local ``day`` and where a search from it stops (the end of its
        ``_MAX_DAYS``-th day), in UTC; cached."""
        window = self._ends.get(day)
        if window is None:
            if len(self._ends) >= _CACHED_DAYS:
                self._ends.clear()
            tz = self.tz
            last = day + timedelta(days=_MAX_DAYS - 1)
            window = self._ends[day] = (_at(day, 0, tz), _at(day, 1440, tz), _at(last, 1440, tz))
        return window

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        return any(b <= minute < e for b, e in self.day_hours(local.date()))

    def add_open_time(
        self, start: datetime, duration: timedelta, closed: Sequence[Interval] = ()
    ) -> datetime:
        """The moment when ``duration`` of open time has passed since ``start``."""
        _aware(start)
        remaining = duration
        if remaining <= timedelta(0):
            return start
        if not closed and self.always_open:  # what the loop below answers, in two comparisons
            begin, first, end = self._window(start.astimezone(self.tz).date())
            lo = max(begin, start)  # the same object the walk starts from (its zone is the answer's)
            if lo + remaining <= first:
                return lo + remaining
            if first + (remaining - (first - start)) <= end:
                return first + (remaining - (first - start))
        for lo, hi in self.open_intervals(start):
            for piece_lo, piece_hi in _subtract((lo, hi), closed):
                length = piece_hi - piece_lo
                if length >= remaining:
                    return piece_lo + remaining
                remaining -= length
        raise ValueError(f"calendar {self.name!r} has no open time for {duration} after {start}")

    def open_time_between(self, a: datetime, b: datetime, closed: Sequence[Interval] = ()) -> timedelta:
        """Open time in ``[a, b)`` (negative if ``b`` is before ``a``)."""
        _aware(a)
        if b < a:
            return -self.open_time_between(b, a, closed)
        total = timedelta(0)
        for lo, hi in self.open_intervals(a):
            if lo >= b:
                break
            for piece_lo, piece_hi in _subtract((lo, min(hi, b)), closed):
                total += piece_hi - piece_lo
        return total


ALWAYS_OPEN = BusinessCalendar()


def _at(day: date, minute: int, tz: ZoneInfo) -> datetime:
    if minute >= 1440:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


def _subtract(interval: Interval, closed: Sequence[Interval]) -> list[Interval]:
    pieces = [interval]
    for c_lo, c_hi in closed:
        next_pieces: list[Interval] = []
        for lo, hi in pieces:
            if c_hi <= lo or c_lo >= hi:
                next_pieces.append((lo, hi))
                continue
            if c_lo > lo:
                next_pieces.append((lo, c_lo))
            if c_hi < hi:
                next_pieces.append((c_hi, hi))
        pieces = next_pieces
    return pieces


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("SLA arithmetic needs timezone-aware datetimes")


def parse_hours(spec: Sequence[str]) -> DayHours:
    """``["09:00-12:00", "13:00-17:00"]`` → local-minute intervals; ``"24:00"`` is midnight."""
    out: list[tuple[int, int]] = []
    for item in spec:
        begin, _, end = item.partition("-")
        lo, hi = _minutes(begin), _minutes(end)
        if not 0 <= lo < hi <= 1440:
            raise ValueError(f"bad opening hours {item!r}")
        out.append((lo, hi))
    return tuple(sorted(out))


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    return int(hours) * 60 + int(minutes or 0)
