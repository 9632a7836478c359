"""SLA policies as data: ``policies.toml`` holds the defaults, calendars and per-branch overrides.

``SLA_POLICIES_FILE`` points at another file (a bank's own). A branch entry may name its calendar
and override any field of any SLA; everything else falls back to the defaults.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from shared.settings import SlaSettings
from shared.sla import public_days
from shared.sla.calendar import ALWAYS_OPEN, BusinessCalendar, parse_hours

DEFAULT_FILE = Path(__file__).with_name("policies.toml")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

Counting = Literal["calendar", "business"]


@dataclass(frozen=True)
class SlaPolicy:
    sla: str
    duration: timedelta
    counting: Counting = "calendar"
    #: share of the time used at which the deadline is "at risk" (an event and a gauge)
    at_risk_fraction: float = 0.8
    #: further milestones before the limit, as shares of the time (e.g. day 10 of 15 = 0.667)
    warnings: tuple[float, ...] = ()
    #: the rule behind it, shown to staff and auditors
    rule: str = ""
    #: the policy set or regulatory profile that defines it
    policy: str = "default"

    def milestones(self) -> tuple[float, ...]:
        """Fractions at which an at-risk warning fires, ascending, below 1."""
        return _milestones(tuple(self.warnings), self.at_risk_fraction)


@functools.lru_cache(maxsize=256)
def _milestones(warnings: tuple[float, ...], at_risk_fraction: float) -> tuple[float, ...]:
    """:meth:`SlaPolicy.milestones`, once per distinct setting (every deadline start asks)."""
    return tuple(sorted({f for f in (*warnings, at_risk_fraction) if 0 < f < 1}))


def parse_duration(text: str | int | float) -> timedelta:
    """``"30m"``, ``"24h"``, ``"15d"``, ``"1h30m"`` or seconds as a number."""
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}: use e.g. 30m, 24h, 15d, 1h30m")
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


@dataclass(frozen=True)
class PolicyBook:
    policies: Mapping[str, SlaPolicy]
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    #: branch id → calendar name
    branch_calendars: Mapping[str, str] = field(default_factory=dict)
    #: branch id → sla → overridden policy
    branch_policies: Mapping[str, Mapping[str, SlaPolicy]] = field(default_factory=dict)
    default_calendar: str = "default"

    @classmethod
    def load(cls, path: Path | str | None = None) -> PolicyBook:
        chosen = Path(path or SlaSettings().sla_policies_file or DEFAULT_FILE)
        with chosen.open("rb") as handle:
            return cls.from_dict(tomllib.load(handle), base=chosen.parent)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], base: Path | None = None) -> PolicyBook:
        """``base``: the policy file's folder, where its own ``public_holidays/`` may live."""
        set_name = doc.get("policy_set", {}).get("name", "default")
        policies = {
            name: _policy(name, spec, SlaPolicy(name, timedelta(0), policy=set_name))
            for name, spec in doc.get("sla", {}).items()
        }
        calendars = {name: _calendar(name, spec, base) for name, spec in doc.get("calendars", {}).items()}
        branch_calendars: dict[str, str] = {}
        branch_policies: dict[str, dict[str, SlaPolicy]] = {}
        for branch, spec in doc.get("branches", {}).items():
            if "calendar" in spec:
                if spec["calendar"] not in calendars:
                    raise ValueError(f"branch {branch} names unknown calendar {spec['calendar']!r}")
                branch_calendars[branch] = spec["calendar"]
            for sla, override in spec.get("sla", {}).items():
                if sla not in policies:
                    raise ValueError(f"branch {branch} overrides unknown SLA {sla!r}")
                branch_policies.setdefault(branch, {})[sla] = _policy(sla, override, policies[sla])
        return cls(
            policies,
            calendars,
            branch_calendars,
            branch_policies,
            doc.get("policy_set", {}).get("default_calendar", "default"),
        )

    def policy(self, sla: str, branch_id: str | None = None) -> SlaPolicy:
        if branch_id is not None and sla in self.branch_policies.get(branch_id, {}):
            return self.branch_policies[branch_id][sla]
        try:
            return self.policies[sla]
        except KeyError:
            raise KeyError(f"no SLA policy named {sla!r}") from None

    def calendar(self, branch_id: str | None = None) -> BusinessCalendar:
        name = self.branch_calendars.get(branch_id or "", self.default_calendar)
        return self.calendars.get(name, ALWAYS_OPEN)

    def calendar_for(self, policy: SlaPolicy, branch_id: str | None) -> BusinessCalendar:
        """The calendar a deadline of ``policy`` counts in: the branch's, or always open."""
        return self.calendar(branch_id) if policy.counting == "business" else ALWAYS_OPEN


def _policy(name: str, spec: Mapping[str, Any], base: SlaPolicy) -> SlaPolicy:
    unknown = set(spec) - {"duration", "counting", "at_risk_fraction", "warnings", "rule"}
    if unknown:
        raise ValueError(f"SLA {name}: unknown settings {sorted(unknown)}")
    policy = replace(
        base,
        duration=parse_duration(spec["duration"]) if "duration" in spec else base.duration,
        counting=spec.get("counting", base.counting),
        at_risk_fraction=float(spec.get("at_risk_fraction", base.at_risk_fraction)),
        warnings=tuple(float(w) for w in spec.get("warnings", base.warnings)),
        rule=spec.get("rule", base.rule),
    )
    if policy.counting not in ("calendar", "business"):
        raise ValueError(f"SLA {name}: counting must be 'calendar' or 'business'")
    if policy.duration <= timedelta(0):
        raise ValueError(f"SLA {name}: duration must be positive")
    return policy


_CALENDAR_KEYS = {*_WEEKDAYS, "timezone", "holidays", "extra_working_days", "workday", "public_holidays"}


def _calendar(name: str, spec: Mapping[str, Any], base: Path | None = None) -> BusinessCalendar:
    """Opening hours per weekday, plus the generated public holidays and 调休 working days of
    ``public_holidays`` (see :mod:`shared.sla.public_days`) and the bank's own ``holidays`` /
    ``extra_working_days`` lists on top."""
    unknown = set(spec) - _CALENDAR_KEYS
    if unknown:
        raise ValueError(f"calendar {name}: unknown settings {sorted(unknown)}")
    hours = {i: parse_hours(spec.get(day, [])) for i, day in enumerate(_WEEKDAYS)}
    holidays = {date.fromisoformat(d) for d in spec.get("holidays", [])}
    working = {date.fromisoformat(d) for d in spec.get("extra_working_days", [])}
    if "public_holidays" in spec:
        public = public_days.load(str(spec["public_holidays"]), base)
        holidays |= set(public.holidays)
        working |= set(public.working_days)
    return BusinessCalendar(
        name=name,
        timezone=spec.get("timezone", "UTC"),
        hours=hours,
        holidays=frozenset(holidays),
        extra_working_days=frozenset(working - holidays),
        workday=parse_hours(spec.get("workday", spec.get("mon", []))),
    )
