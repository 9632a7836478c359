"""Regulatory profiles: the complaint-handling rules of a jurisdiction, as data plus small rules.

A profile (``profiles/<name>.toml``) names its regulatory clocks (limit, how it counts, what
starts, meets and pauses it, how it may be extended), the lifecycle rules that go with them
(recusal, collective complaints, merging repeats, restart on new facts, review, root cause at
close, interim responses) and its code tables (business types, cause codes). Each branch follows
one profile, chosen by configuration (default ``cn-2020``); a case records the profile it was
received under and keeps it for its whole life, so changing the configuration never changes the
rules of a running case.

Pure: loading reads files, everything else is arithmetic on frozen data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contracts.complaint import ClockBasis, HoldKind, InterimKind, LimitUnit
from shared.sla.calendar import ALWAYS_OPEN, BusinessCalendar
from shared.sla.policy import PolicyBook

PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_PROFILE = "cn-2020"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: what can meet a regulatory clock
MEETERS = frozenset({"answer", "review_decision", *InterimKind})
#: how an extension step is granted: a reason alone, approval by another person, an interim reply
GRANTS = frozenset({"reason", "approval", *InterimKind})


class ProfileError(ValueError):
    """A profile file that does not make sense (caught at start-up, not at the first complaint)."""


@dataclass(frozen=True)
class ExtensionStep:
    #: the new limit, counted from the clock's start in the clock's unit
    to: int
    #: ``reason``; ``approval`` (requested, then approved by someone else); or an interim kind
    needs: str


@dataclass(frozen=True)
class ClockSpec:
    """One regulatory deadline of a profile."""

    key: str
    sla: str
    limit: int
    unit: LimitUnit
    starts_on: frozenset[ClockBasis]
    met_by: frozenset[str]
    pauses_on: frozenset[HoldKind]
    rule: str
    citation: str = ""
    #: applies only to these business types (None: to every case not excluded below)
    business_types: frozenset[str] | None = None
    except_business_types: frozenset[str] = frozenset()
    extensions: tuple[ExtensionStep, ...] = ()
    #: warnings before the limit, as days of the initial limit (e.g. day 10 of 15)
    warn_at_days: tuple[float, ...] = ()
    at_risk_fraction: float = 0.8
    #: what the branch head should do at a warning, per current limit (``{day}`` is filled in)
    actions: Mapping[int, str] = field(default_factory=dict)

    def applies_to(self, business_type: str | None) -> bool:
        if business_type is not None and business_type in self.except_business_types:
            return False
        if self.business_types is None:
            return True
        return business_type is not None and business_type in self.business_types

    def warnings(self) -> tuple[float, ...]:
        return tuple(sorted({d / self.limit for d in self.warn_at_days if 0 < d < self.limit}))

    def action(self, limit: int, day: float) -> str:
        text = (
            self.actions.get(limit)
            or next(iter(self.actions.values()), "")
            or ("decide now: the regulatory limit is near")
        )
        return text.format(day=f"{day:g}", limit=limit)

    def step_after(self, extensions: int) -> ExtensionStep | None:
        return self.extensions[extensions] if extensions < len(self.extensions) else None


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    title: str
    clocks: Mapping[str, ClockSpec]
    #: weekdays that are business days (the branch calendar adds holidays and 调休 working days)
    business_weekdays: frozenset[int] = frozenset(range(5))
    acknowledgement: str = ""
    #: the calendar business days count in for a branch whose policy file names none of its own
    calendar: str | None = None
    recusal: bool = True
    #: None: no limit beyond the contract's
    max_representatives: int | None = None
    merge_repeats: bool = False
    restart_on_new_facts: bool = False
    #: "major" and/or "bank_at_fault": closing such a case needs a root cause and actions
    root_cause_required_for: frozenset[str] = frozenset({"major"})
    remediation_actions_required: bool = False
    #: hold kinds whose start and end the complainant must be told
    inform_on_pause: frozenset[HoldKind] = frozenset()
    review_request_window_days: int | None = None
    interim_responses: frozenset[InterimKind] = frozenset()
    final_response_refers_to_ombudsman: bool = False
    #: uk-fca: resolved by close of business on this business day after receipt → summary response
    summary_resolution_business_days: int | None = None
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def clocks_for(self, basis: ClockBasis, business_type: str | None) -> list[ClockSpec]:
        return [c for c in self.clocks.values() if basis in c.starts_on and c.applies_to(business_type)]

    def clock_for_sla(self, sla: str, business_type: str | None) -> ClockSpec | None:
        """The clock that governs ``sla`` for this business type (main line: not the review)."""
        return next(
            (
                c
                for c in self.clocks.values()
                if c.sla == sla and ClockBasis.review not in c.starts_on and c.applies_to(business_type)
            ),
            None,
        )

    @property
    def has_review(self) -> bool:
        return any(ClockBasis.review in c.starts_on for c in self.clocks.values())

    def check_code(self, table: str, code: str | None) -> str | None:
        """None when ``code`` is fine (or absent); else why not."""
        if code is None or table not in self.codes:
            return None
        if code in self.codes[table]:
            return None
        known = ", ".join(sorted(self.codes[table])[:12])
        kind = table.rstrip("s").replace("_", " ")
        return f"unknown {kind} code {code!r} in the {self.name} code table ({known})"


@dataclass(frozen=True)
class Regulation:
    """The profiles a service knows, the calendars business days count in, and who follows what."""

    profiles: Mapping[str, Profile]
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    default_profile: str = DEFAULT_PROFILE
    #: branch id (or a prefix ending in ``*``) → profile name
    branch_profiles: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (self.default_profile, *self.branch_profiles.values()):
            if name not in self.profiles:
                raise ProfileError(f"unknown regulatory profile {name!r} (known: {sorted(self.profiles)})")

    def profile(self, name: str | None) -> Profile:
        return self.profiles.get(name or self.default_profile) or self.profiles[self.default_profile]

    def profile_for_branch(self, branch_id: str) -> Profile:
        if branch_id in self.branch_profiles:
            return self.profiles[self.branch_profiles[branch_id]]
        prefixes = [k for k in self.branch_profiles if k.endswith("*") and branch_id.startswith(k[:-1])]
        if prefixes:
            return self.profiles[self.branch_profiles[max(prefixes, key=len)]]
        return self.profiles[self.default_profile]

    def calendar(self, name: str | None) -> BusinessCalendar:
        return self.calendars.get(name or "", ALWAYS_OPEN)

    @classmethod
    def load(
        cls,
        book: PolicyBook,
        *,
        directory: Path | None = None,
        default_profile: str = DEFAULT_PROFILE,
        branch_profiles: Mapping[str, str] | None = None,
    ) -> Regulation:
        return cls(
            load_profiles(directory or PROFILES_DIR),
            dict(book.calendars),
            default_profile,
            dict(branch_profiles or {}),
        )


def branch_calendar_name(book: PolicyBook, branch_id: str, profile: Profile | None = None) -> str:
    """The calendar a branch counts business days in: the branch's own (policy file), else its
    profile's (``gb-eng`` for uk-fca), else the default; ``always_open`` if none is configured.
    The name is recorded on the case, so a later change of configuration never moves its clocks."""
    name = book.branch_calendars.get(branch_id)
    if name is None and profile is not None and profile.calendar in book.calendars:
        name = profile.calendar
    name = name or book.default_calendar
    return name if name in book.calendars else ALWAYS_OPEN.name


# ------------------------------------------------------------------------------------- loading


def load_profiles(directory: Path) -> dict[str, Profile]:
    profiles = {}
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as handle:
            profile = parse_profile(tomllib.load(handle), source=path.name)
        profiles[profile.name] = profile
    if not profiles:
        raise ProfileError(f"no regulatory profiles in {directory}")
    return profiles


def parse_profile(doc: Mapping[str, Any], source: str = "<profile>") -> Profile:
    head = doc.get("profile", {})
    rules = doc.get("rules", {})
    _known(
        head,
        {"name", "version", "title", "business_weekdays", "acknowledgement", "calendar"},
        f"{source} [profile]",
    )
    _known(
        rules,
        {
            "recusal",
            "max_representatives",
            "merge_repeats",
            "restart_on_new_facts",
            "root_cause_required_for",
            "remediation_actions_required",
            "inform_on_pause",
            "review_request_window_days",
            "interim_responses",
            "final_response_refers_to_ombudsman",
            "summary_resolution_business_days",
        },
        f"{source} [rules]",
    )
    if "name" not in head:
        raise ProfileError(f"{source}: [profile] needs a name")
    name = str(head["name"])
    clocks = {
        key: _clock(key, spec, f"{source} [clocks.{key}]") for key, spec in doc.get("clocks", {}).items()
    }
    if not clocks:
        raise ProfileError(f"{source}: a profile needs at least one [clocks.*] entry")
    root = frozenset(rules.get("root_cause_required_for", ["major"]))
    if not root <= {"major", "bank_at_fault"}:
        raise ProfileError(f"{source}: root_cause_required_for takes 'major' and 'bank_at_fault'")
    weekdays = frozenset(_WEEKDAYS.index(d) for d in head.get("business_weekdays", _WEEKDAYS[:5]))
    profile = Profile(
        name=name,
        version=str(head.get("version", "")),
        title=str(head.get("title", name)),
        clocks=clocks,
        business_weekdays=weekdays,
        acknowledgement=str(head.get("acknowledgement", "")),
        calendar=str(head["calendar"]) if "calendar" in head else None,
        recusal=bool(rules.get("recusal", True)),
        max_representatives=rules.get("max_representatives"),
        merge_repeats=bool(rules.get("merge_repeats", False)),
        restart_on_new_facts=bool(rules.get("restart_on_new_facts", False)),
        root_cause_required_for=root,
        remediation_actions_required=bool(rules.get("remediation_actions_required", False)),
        inform_on_pause=frozenset(HoldKind(k) for k in rules.get("inform_on_pause", [])),
        review_request_window_days=rules.get("review_request_window_days"),
        interim_responses=frozenset(InterimKind(k) for k in rules.get("interim_responses", [])),
        final_response_refers_to_ombudsman=bool(rules.get("final_response_refers_to_ombudsman", False)),
        summary_resolution_business_days=rules.get("summary_resolution_business_days"),
        codes={table: dict(entries) for table, entries in doc.get("codes", {}).items()},
    )
    _check(profile, source)
    return profile


def _clock(key: str, spec: Mapping[str, Any], where: str) -> ClockSpec:
    _known(
        spec,
        {
            "sla",
            "limit",
            "unit",
            "starts_on",
            "met_by",
            "pauses_on",
            "rule",
            "citation",
            "business_types",
            "except_business_types",
            "extensions",
            "warn_at_days",
            "at_risk_fraction",
            "actions",
        },
        where,
    )
    try:
        clock = ClockSpec(
            key=key,
            sla=str(spec["sla"]),
            limit=int(spec["limit"]),
            unit=LimitUnit(spec.get("unit", "days")),
            starts_on=frozenset(ClockBasis(b) for b in spec.get("starts_on", ["receipt", "reopen"])),
            met_by=frozenset(spec.get("met_by", ["answer"])),
            pauses_on=frozenset(HoldKind(k) for k in spec.get("pauses_on", [])),
            rule=str(spec.get("rule", "")),
            citation=str(spec.get("citation", "")),
            business_types=frozenset(spec["business_types"]) if "business_types" in spec else None,
            except_business_types=frozenset(spec.get("except_business_types", [])),
            extensions=tuple(
                ExtensionStep(int(e["to"]), str(e["needs"])) for e in spec.get("extensions", [])
            ),
            warn_at_days=tuple(float(d) for d in spec.get("warn_at_days", [])),
            at_risk_fraction=float(spec.get("at_risk_fraction", 0.8)),
            actions={int(k): str(v) for k, v in spec.get("actions", {}).items()},
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProfileError(f"{where}: {exc}") from None
    if not clock.met_by <= MEETERS:
        raise ProfileError(f"{where}: met_by takes {sorted(MEETERS)}")
    if any(step.needs not in GRANTS for step in clock.extensions):
        raise ProfileError(f"{where}: an extension needs one of {sorted(GRANTS)}")
    limits = [clock.limit, *(s.to for s in clock.extensions)]
    if limits != sorted(set(limits)) or not 0 < clock.limit <= 365 or limits[-1] > 365:
        raise ProfileError(f"{where}: limits must grow with each extension and stay within 1-365")
    if clock.unit is LimitUnit.business_days and clock.pauses_on:
        # business-day limits are counted on whole days; no profile needs to stop them, so the
        # arithmetic stays simple (and DISP has no stop-the-clock)
        raise ProfileError(f"{where}: a business-day clock cannot pause")
    if not 0 < clock.at_risk_fraction < 1:
        raise ProfileError(f"{where}: at_risk_fraction must be between 0 and 1")
    return clock


def _check(profile: Profile, source: str) -> None:
    slas: dict[str, list[ClockSpec]] = {}
    for clock in profile.clocks.values():
        slas.setdefault(clock.sla, []).append(clock)
    for sla, clocks in slas.items():
        # two clocks may share an SLA only when no business type falls under both
        for i, a in enumerate(clocks):
            for b in clocks[i + 1 :]:
                if a.business_types is None and b.business_types is None:
                    raise ProfileError(
                        f"{source}: clocks {a.key} and {b.key} both govern {sla} for every case"
                    )
    if profile.review_request_window_days is not None and not profile.has_review:
        raise ProfileError(f"{source}: a review window needs a clock that starts_on 'review'")


def _known(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown settings {sorted(unknown)}")
