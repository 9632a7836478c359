"""A case's regulatory clocks, folded from its events, and the arithmetic of their due times.

The decider keeps these clocks in the case's state, folded from the events: the ``regulatory_clocks``
(:class:`ClockStart`) that receipt, reopen, new facts, reclassification and review requests carry;
holds and resumes; extensions; the answer, interim replies and review decisions that meet them; the
close that cancels them. So a deadline can always be recomputed from history alone. The live
deadlines table (``shared/sla``) is driven by the same events; the explanation endpoint and the
property tests check both give the same due times.

Counting:

- ``days``: 24-hour days from the moment the clock started, plus every paused interval (the same
  arithmetic as the shared SLA clock with an always-open calendar);
- ``business_days``: whole business days *after* the day the clock started, ending at midnight
  (local time of the branch calendar) that closes the last one — "by the end of 15 business days
  after the day on which the complaint was received" (DISP 1.6.2B). Business days are the
  profile's weekdays, minus the calendar's holidays, plus its 调休 working days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from services.complaint.regulation import Regulation
from shared.contracts.complaint import (
    ClockBasis,
    ClockStart,
    ComplaintPutOnHold,
    HoldKind,
    LimitUnit,
    RegulatoryDeadlineExtended,
)
from shared.contracts.text import TextRef
from shared.sla.calendar import ALWAYS_OPEN, BusinessCalendar, Interval

DAY = timedelta(days=1)
_MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class ClockPause:
    start: datetime
    end: datetime | None
    kind: HoldKind
    reason: TextRef | None


@dataclass(frozen=True)
class RegClock:
    sla: str
    clock: str
    profile: str
    profile_version: str
    basis: ClockBasis
    started_at: datetime
    limit: int
    base_limit: int
    unit: LimitUnit
    calendar: str | None
    met_by: frozenset[str]
    pauses_on: frozenset[HoldKind]
    warnings: tuple[float, ...]
    at_risk_fraction: float
    rule: str
    citation: str
    pauses: tuple[ClockPause, ...] = ()
    #: each extension as recorded (``limit_days``, ``reason``, who requested and approved it)
    extensions: tuple[RegulatoryDeadlineExtended, ...] = ()
    ended_at: datetime | None = None
    #: met | cancelled | replaced
    outcome: str | None = None
    ended_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None

    def closed_pauses(self, until: datetime | None = None) -> list[Interval]:
        """Paused intervals; an open one counts up to ``until`` (if given)."""
        out: list[Interval] = []
        for p in self.pauses:
            end = p.end or until
            if end is not None:
                out.append((p.start, max(end, p.start)))
        return out


#: what a clock keeps of the event that started it, under the same names
_KEPT_AT_START = tuple(
    "sla clock profile profile_version basis started_at limit unit calendar "
    "at_risk_fraction rule citation".split()
)


def started(event: ClockStart) -> RegClock:
    return RegClock(
        **{name: getattr(event, name) for name in _KEPT_AT_START},
        base_limit=event.limit,
        met_by=frozenset(event.met_by),
        pauses_on=frozenset(event.pauses_on),
        warnings=tuple(event.warnings),
    )


# ---------------------------------------------------------------------------------- the fold


@dataclass(frozen=True)
class Clocks:
    """The latest clock per SLA, and the clocks they replaced (restart, reclassification)."""

    current: tuple[RegClock, ...] = ()
    past: tuple[RegClock, ...] = ()

    def get(self, sla: str) -> RegClock | None:
        return next((c for c in self.current if c.sla == sla), None)

    def open(self) -> list[RegClock]:
        return [c for c in self.current if c.is_open]

    def start(self, clock: RegClock, hold: tuple[HoldKind, TextRef | None] | None, at: datetime) -> Clocks:
        old = self.get(clock.sla)
        past = self.past
        if old is not None:
            if old.is_open:
                old = replace(old, ended_at=at, outcome="replaced", ended_by=clock.basis.value)
            past = (*past, old)
        if hold is not None and hold[0] in clock.pauses_on:
            # started while the case waits: it waits too (the live clock does the same)
            clock = replace(clock, pauses=(ClockPause(at, None, hold[0], hold[1]),))
        return Clocks((*(c for c in self.current if c.sla != clock.sla), clock), past)

    def _map(self, change: Callable[[RegClock], RegClock]) -> Clocks:
        return Clocks(tuple(change(c) for c in self.current), self.past)

    def hold(self, event: ComplaintPutOnHold) -> Clocks:
        def pause(c: RegClock) -> RegClock:
            if not c.is_open or c.paused or event.kind not in c.pauses_on:
                return c
            return replace(c, pauses=(*c.pauses, ClockPause(event.at, None, event.kind, event.reason)))

        return self._map(pause)

    def resume(self, at: datetime) -> Clocks:
        def go_on(c: RegClock) -> RegClock:
            if not c.paused:
                return c
            last = c.pauses[-1]
            return replace(c, pauses=(*c.pauses[:-1], replace(last, end=max(at, last.start))))

        return self._map(go_on)

    def extend(self, event: RegulatoryDeadlineExtended) -> Clocks:
        def longer(c: RegClock) -> RegClock:
            if c.sla != event.sla or not c.is_open:
                return c
            return replace(c, limit=event.limit_days, extensions=(*c.extensions, event))

        return self._map(longer)

    def start_all(
        self, starts: Sequence[ClockStart], hold: tuple[HoldKind, TextRef | None] | None, at: datetime
    ) -> Clocks:
        clocks = self
        for start in starts:
            clocks = clocks.start(started(start), hold, at)
        return clocks

    def meet_by(self, by: str, at: datetime) -> Clocks:
        """``by`` (answer, holding, in_progress, review_decision) meets the open clocks it can."""
        return self._map(lambda c: _ended(c, at, "met", by) if c.is_open and by in c.met_by else c)

    def cancel_open(self, at: datetime, by: str) -> Clocks:
        return self._map(lambda c: _ended(c, at, "cancelled", by) if c.is_open else c)


def _ended(c: RegClock, at: datetime, outcome: str, by: str) -> RegClock:
    pauses = c.pauses
    if c.paused:
        pauses = (*pauses[:-1], replace(pauses[-1], end=max(at, pauses[-1].start)))
    return replace(c, pauses=pauses, ended_at=at, outcome=outcome, ended_by=by)


# ---------------------------------------------------------------------------------- arithmetic


def business_day_calendar(calendar: BusinessCalendar, weekdays: frozenset[int]) -> BusinessCalendar:
    """The branch calendar seen as whole business days (for display and ``is_open`` checks)."""
    full = ((0, 1440),)
    return BusinessCalendar(
        name=f"{calendar.name}:business_days",
        timezone=calendar.timezone,
        hours={d: full for d in weekdays},
        holidays=calendar.holidays,
        extra_working_days=calendar.extra_working_days,
        workday=full,
    )


def is_business_day(day: date, calendar: BusinessCalendar, weekdays: frozenset[int]) -> bool:
    if day in calendar.holidays:
        return False
    if day in calendar.extra_working_days:
        return True
    return day.weekday() in weekdays


def nth_business_day_after(
    moment: datetime, n: int, calendar: BusinessCalendar, weekdays: frozenset[int]
) -> date:
    """The local date of the ``n``-th business day after the (local) day of ``moment``."""
    day = moment.astimezone(calendar.tz).date()
    found = 0
    for _ in range(_MAX_DAYS):
        day += DAY
        if is_business_day(day, calendar, weekdays):
            found += 1
            if found >= n:
                return day
    raise ValueError(f"calendar {calendar.name!r} has no {n} business days after {moment}")


def end_of_day(day: date, calendar: BusinessCalendar) -> datetime:
    """Local midnight that ends ``day``, in UTC."""
    return datetime.combine(day + DAY, time(0), tzinfo=calendar.tz).astimezone(UTC)


def business_days_between(
    start: datetime, at: datetime, calendar: BusinessCalendar, weekdays: frozenset[int]
) -> int:
    """Business days after the day of ``start`` up to and including the day of ``at``."""
    tz = calendar.tz
    day, last = start.astimezone(tz).date(), at.astimezone(tz).date()
    count = 0
    while day < last:
        day += DAY
        count += is_business_day(day, calendar, weekdays)
    return count


class ClockMath:
    """Due times and time used, given the regulation's calendars and profiles."""

    def __init__(self, regulation: Regulation) -> None:
        self.regulation = regulation
        #: business-day due times by (profile, calendar, start, limit): the day-by-day walk is
        #: the same for every case started that day (an acknowledgement, a classification and the
        #: steps a view lists each asked it again: issue 19). The calendars never change.
        self._business_due: dict[tuple[str, str | None, datetime, int], datetime] = {}

    def _calendar(self, clock: RegClock) -> tuple[BusinessCalendar, frozenset[int]]:
        profile = self.regulation.profile(clock.profile)
        return self.regulation.calendar(clock.calendar), profile.business_weekdays

    def due(self, clock: RegClock, limit: int | None = None, *, until: datetime | None = None) -> datetime:
        """When the clock's limit (or ``limit``) is reached.

        An open pause does not count (the live deadline keeps its due time while paused), unless
        ``until`` is given: then it counts up to that moment (is the limit passed *now*?)."""
        limit = clock.limit if limit is None else limit
        if clock.unit is LimitUnit.business_days:
            key = (clock.profile, clock.calendar, clock.started_at, limit)
            due = self._business_due.get(key)
            if due is None:
                if len(self._business_due) >= 4096:
                    self._business_due.clear()
                calendar, weekdays = self._calendar(clock)
                due = end_of_day(
                    nth_business_day_after(clock.started_at, limit, calendar, weekdays), calendar
                )
                self._business_due[key] = due
            return due
        return ALWAYS_OPEN.add_open_time(clock.started_at, limit * DAY, clock.closed_pauses(until))

    def duration(self, clock: RegClock, limit: int | None = None) -> timedelta:
        """The live deadline's duration: calendar time from the start, before any pause."""
        limit = clock.limit if limit is None else limit
        if clock.unit is LimitUnit.business_days:
            return self.due(clock, limit) - clock.started_at
        return limit * DAY

    def used(self, clock: RegClock, at: datetime) -> float:
        """Time used at ``at`` in the clock's unit, paused time excluded."""
        if clock.unit is LimitUnit.business_days:
            calendar, weekdays = self._calendar(clock)
            return float(business_days_between(clock.started_at, at, calendar, weekdays))
        counted = ALWAYS_OPEN.open_time_between(clock.started_at, at, clock.closed_pauses(until=at))
        return round(max(counted, timedelta(0)) / DAY, 4)

    def summary_window_end(
        self, received_at: datetime, business_days: int, calendar_name: str | None, weekdays: frozenset[int]
    ) -> datetime:
        """Close of business on the ``n``-th business day after the day of receipt (DISP 1.5.4)."""
        calendar = self.regulation.calendar(calendar_name)
        day = nth_business_day_after(received_at, business_days, calendar, weekdays)
        hours = calendar.day_hours(day)
        if not hours or hours[-1][1] >= 1440:
            return end_of_day(day, calendar)
        close = hours[-1][1]
        return datetime.combine(day, time(close // 60, close % 60), tzinfo=calendar.tz).astimezone(UTC)


def paused_total(pauses: Sequence[Interval]) -> timedelta:
    return sum((hi - lo for lo, hi in pauses), timedelta(0))
