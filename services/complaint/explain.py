"""Why each deadline of a case is what it is: the computation, for the compliance officer. Pure.

For every regulatory clock (current and replaced ones) the explanation is replayed from the
case's history alone — rule and profile, why it started, the limit and how it counts, the
calendar, each pause and extension — and set beside the live deadline in the deadlines table, with
``agrees`` saying whether both give the same due time. Deadlines of the service's own policies
(acknowledge, resolve, progress update) are listed with their policy and rule.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from services.complaint.regclocks import (
    DAY,
    ClockMath,
    RegClock,
    is_business_day,
    nth_business_day_after,
)
from services.complaint.regulation import Regulation
from services.complaint.state import Complaint
from shared.contracts.complaint import LimitUnit
from shared.contracts.text import TextRef
from shared.sla.deadlines import Deadline

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def explain(
    complaint_id: str,
    state: Complaint,
    deadlines: list[Deadline],
    regulation: Regulation,
    now: datetime,
) -> dict[str, Any]:
    math = ClockMath(regulation)
    live = {d.sla: d for d in deadlines}
    profile = regulation.profile(state.profile) if state.profile else None
    calendar = regulation.calendar(state.calendar)
    clocks = [*state.clocks.current, *state.clocks.past]
    clocks.sort(key=lambda c: (c.started_at, c.sla))
    regulatory = []
    for clock in clocks:
        current = clock in state.clocks.current
        live_deadline = live.get(clock.sla) if current else None
        regulatory.append(_clock(clock, live_deadline, math, regulation, current, now))
    own = [
        {
            "sla": d.sla,
            "policy": d.policy,
            "rule": d.rule,
            "counting": d.counting,
            "duration_seconds": int(d.duration.total_seconds()),
            "started_at": d.started_at,
            "pauses": [{"from": lo, "to": hi} for lo, hi in d.pauses],
            "due_at": d.due_at,
            "status": d.status(),
            "remaining_seconds": None if d.due_at is None else round((d.due_at - now).total_seconds()),
        }
        for d in deadlines
        if d.sla not in {c.sla for c in state.clocks.current}
    ]
    return {
        "complaint_id": complaint_id,
        "as_of": now,
        "profile": None
        if profile is None
        else {"name": profile.name, "version": profile.version, "title": profile.title},
        "calendar": {
            "name": calendar.name,
            "timezone": calendar.timezone,
            "business_weekdays": [_WEEKDAYS[d] for d in sorted(profile.business_weekdays)] if profile else [],
        },
        "regulatory_deadlines": regulatory,
        "other_deadlines": own,
    }


def _clock(
    clock: RegClock,
    live: Deadline | None,
    math: ClockMath,
    regulation: Regulation,
    current: bool,
    now: datetime,
) -> dict[str, Any]:
    calendar = regulation.calendar(clock.calendar)
    tz = calendar.tz
    weekdays = regulation.profile(clock.profile).business_weekdays
    due = math.due(clock)
    steps = [
        f"{_local(clock.started_at, tz)}: started at {clock.basis.value.replace('_', ' ')} ({clock.citation})"
    ]
    if clock.unit is LimitUnit.business_days:
        steps += _business_steps(clock, calendar, weekdays)
    else:
        steps.append(
            f"{clock.base_limit} days of 24 hours from the start: "
            f"{_local(clock.started_at + clock.base_limit * DAY, tz)}"
        )
    for ext in clock.extensions:
        who = f" requested by {ext.requested_by}, approved by {ext.approved_by}" if ext.approved_by else ""
        steps.append(f"{_local(ext.at, tz)}: extended to {ext.limit_days} {_word(clock.unit)}{who}")
    paused = timedelta(0)
    for p in clock.pauses:
        if p.end is None:
            steps.append(f"{_local(p.start, tz)}: paused ({p.kind.value}); still paused, not counted")
            continue
        paused += p.end - p.start
        steps.append(
            f"{_local(p.start, tz)} to {_local(p.end, tz)}: paused ({p.kind.value}), "
            f"{_span(p.end - p.start)} not counted"
        )
    if clock.unit is LimitUnit.days:
        steps.append(f"due = start + {clock.limit} days + {_span(paused)} paused = {_local(due, tz)}")
    else:
        steps.append(f"due = end of business day {clock.limit} = {_local(due, tz)}")
    if clock.ended_at is not None:
        steps.append(f"{_local(clock.ended_at, tz)}: {clock.outcome} ({clock.ended_by})")
    return {
        "sla": clock.sla,
        "clock": clock.clock,
        "profile": clock.profile,
        "profile_version": clock.profile_version,
        "citation": clock.citation,
        "rule": clock.rule,
        "basis": clock.basis.value,
        "started_at": clock.started_at,
        "limit": clock.limit,
        "initial_limit": clock.base_limit,
        "unit": clock.unit.value,
        "calendar": calendar.name,
        "met_by": sorted(clock.met_by),
        "paused_by": sorted(k.value for k in clock.pauses_on),
        "pauses": [
            {"from": p.start, "to": p.end, "kind": p.kind.value, "reason": _ref(p.reason)}
            for p in clock.pauses
        ],
        "paused_seconds": int(paused.total_seconds()),
        "extensions": [
            {
                "at": e.at,
                "to": e.limit_days,
                "reason": _ref(e.reason),
                "requested_by": e.requested_by,
                "approved_by": e.approved_by,
            }
            for e in clock.extensions
        ],
        "state": "open" if clock.is_open else clock.outcome,
        "ended_at": clock.ended_at,
        "ended_by": clock.ended_by,
        "used": math.used(clock, clock.ended_at or now),
        "due_at": due,
        "computation": steps,
        "current": current,
        "live": None
        if live is None
        else {
            "deadline_id": live.deadline_id,
            "due_at": live.due_at,
            "status": live.status(),
            "rule": live.rule,
        },
        "agrees": None if live is None else live.due_at == due,
    }


def _business_steps(clock: RegClock, calendar: Any, weekdays: frozenset[int]) -> list[str]:
    tz = calendar.tz
    start_day = clock.started_at.astimezone(tz).date()
    last = nth_business_day_after(clock.started_at, clock.limit, calendar, weekdays)
    skipped_holidays = [d for d in _days(start_day, last) if d in calendar.holidays]
    worked = [d for d in _days(start_day, last) if d in calendar.extra_working_days]
    weekend = [d for d in _days(start_day, last) if not is_business_day(d, calendar, weekdays)]
    steps = [
        f"business days are counted from the day after {start_day:%a %Y-%m-%d} "
        f"({calendar.name}, {calendar.timezone}); "
        f"business day {clock.limit} is {last:%a %Y-%m-%d}"
    ]
    if skipped_holidays:
        steps.append("holidays skipped: " + ", ".join(f"{d:%a %Y-%m-%d}" for d in skipped_holidays))
    if worked:
        steps.append("weekend days worked (调休) counted: " + ", ".join(f"{d:%a %Y-%m-%d}" for d in worked))
    steps.append(f"{len(weekend)} non-business days in between")
    return steps


def _days(start: date, last: date) -> list[date]:
    return [start + DAY * i for i in range(1, (last - start).days + 1)]


def _local(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _span(delta: timedelta) -> str:
    days, seconds = delta.days, delta.seconds
    hours, minutes = seconds // 3600, seconds % 3600 // 60
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes or not parts else []
    return " ".join(parts)


def _word(unit: LimitUnit) -> str:
    return "business days" if unit is LimitUnit.business_days else "days"


def _ref(ref: TextRef | None) -> dict[str, Any] | None:
    """A reason as its reference (the words stay with their owner: ``GET /texts/{id}``)."""
    return None if ref is None else ref.model_dump(mode="json")
