"""The decisions a regulatory profile adds to the lifecycle. Pure: no I/O, time inside commands.

Called by :class:`~services.complaint.domain.ComplaintDecider` for cases received under a profile.
Each method either refuses (``DomainError``, a 409 with the rule in words) or returns what the
events record: the clocks an event starts (:class:`ClockStart`, carried in ``regulatory_clocks``),
the clocks it meets (:class:`ClockOutcome`, in ``regulatory_outcomes``) and the extensions
(``RegulatoryDeadlineExtended``), which make every deadline recomputable from the case's history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.complaint.commands import (
    Acknowledge,
    Answer,
    Classify,
    Close,
    Hold,
    RecordNewMaterial,
    RecordRepeat,
    RecordSlaAtRisk,
    Resume,
)
from services.complaint.regclocks import ClockMath, Clocks, RegClock, started
from services.complaint.regulation import ClockSpec, ExtensionStep, Profile, Regulation
from services.complaint.state import REGULATORY_SLA, Complaint, Status
from shared.contracts.complaint import (
    ClockBasis,
    ClockOutcome,
    ClockStart,
    LimitUnit,
    Nature,
    RegulatoryDeadlineExtended,
    RegulatoryMilestoneReached,
    ResponseKind,
)
from shared.decider import DomainError
from shared.registry import EventData

ANONYMOUS = frozenset({"anonymous", "unknown", ""})


def unit_words(unit: LimitUnit, n: int | float) -> str:
    word = "business day" if unit is LimitUnit.business_days else "day"
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def _shown(due: datetime, tz: Any) -> datetime:
    """A due time as the complainant reads it: a limit ending at midnight is "by" the day it ends."""
    local = due.astimezone(tz)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return local - timedelta(microseconds=1)
    return local


class RegulatoryRules:
    def __init__(self, regulation: Regulation) -> None:
        self.regulation = regulation
        self.math = ClockMath(regulation)

    def profile(self, state: Complaint) -> Profile:
        return self.regulation.profile(state.profile)

    # --------------------------------------------------------------------------- clock events

    def start_clock(
        self, profile: Profile, spec: ClockSpec, basis: ClockBasis, started_at: datetime, calendar: str | None
    ) -> ClockStart:
        draft = ClockStart(
            sla=spec.sla,
            clock=spec.key,
            profile=profile.name,
            profile_version=profile.version,
            basis=basis,
            started_at=started_at,
            limit=spec.limit,
            unit=spec.unit,
            calendar=calendar,
            met_by=sorted(spec.met_by),
            pauses_on=sorted(spec.pauses_on),
            warnings=list(spec.warnings()),
            at_risk_fraction=spec.at_risk_fraction,
            rule=spec.rule[:1000],
            citation=spec.citation[:200],
            due_at=started_at,
        )
        return draft.model_copy(update={"due_at": self.math.due(started(draft))})

    def starts(self, state: Complaint, basis: ClockBasis, at: datetime) -> list[ClockStart]:
        profile = self.profile(state)
        return [
            self.start_clock(profile, spec, basis, at, state.calendar)
            for spec in profile.clocks_for(basis, state.effective_business_type)
        ]

    def outcome(self, clock: RegClock, by: str, at: datetime) -> ClockOutcome:
        due = self.math.due(clock, until=at)
        return ClockOutcome(
            sla=clock.sla,
            clock=clock.clock,
            profile=clock.profile,
            by=by,
            started_at=clock.started_at,
            limit=clock.limit,
            unit=clock.unit,
            due_at=due,
            counted_days=self.math.used(clock, at),
            within_limit=at <= due,
            extensions=len(clock.extensions),
        )

    def outcomes(self, state: Complaint, by: str, at: datetime) -> list[ClockOutcome]:
        """The open clocks that ``by`` (answer, holding, review_decision, ...) meets."""
        return [self.outcome(c, by, at) for c in state.clocks.open() if by in c.met_by]

    def open_clock(self, state: Complaint, sla: str, what: str) -> RegClock:
        clock = state.clocks.get(sla)
        if clock is None or not clock.is_open:
            raise DomainError(f"cannot {what}: no regulatory deadline {sla} is running")
        return clock

    def next_step(self, state: Complaint, clock: RegClock) -> ExtensionStep | None:
        """How the clock may move next under the case's profile (None: it may not)."""
        spec = self.profile(state).clocks.get(clock.clock)
        return spec.step_after(len(clock.extensions)) if spec else None

    def not_passed(self, clock: RegClock, at: datetime, what: str) -> datetime:
        due = self.math.due(clock, until=at)
        if at > due:
            raise DomainError(
                f"cannot {what}: the {unit_words(clock.unit, clock.limit)} limit already passed on "
                f"{due:%Y-%m-%d %H:%M} UTC"
            )
        return due

    # ------------------------------------------------------------------------------- receipt

    def check_receipt(self, profile: Profile, representatives: int, business_type: str | None) -> None:
        limit = profile.max_representatives
        if limit is not None and representatives > limit:
            raise DomainError(
                f"a collective complaint records at most {limit} representatives under {profile.name} "
                f"({representatives} given)"
            )
        problem = profile.check_code("business_types", business_type)
        if problem:
            raise DomainError(problem)

    # ------------------------------------------------------------------------ lifecycle hooks

    def acknowledgement(self, state: Complaint, command: Acknowledge) -> dict[str, Any]:
        """The expected timeline the acknowledgement states (uk-fca requires it)."""
        profile = self.profile(state)
        clock = state.clocks.get(REGULATORY_SLA)
        if clock is None or not clock.is_open:
            return {}
        tz = self.regulation.calendar(state.calendar).tz
        due = self.math.due(clock)
        values: dict[str, Any] = {
            "due": _shown(due, tz),
            "limit": clock.limit,
            "unit": clock.unit.value,
            "received": (state.received_at or command.at).astimezone(tz),
        }
        for c in state.clocks.open():
            values[f"due_{c.clock}"] = _shown(self.math.due(c), tz)
        try:
            timeline = profile.acknowledgement.format_map(values)
        except (KeyError, ValueError, IndexError):
            timeline = f"A decision by {due:%Y-%m-%d} ({unit_words(clock.unit, clock.limit)})."
        return {"expected_response_by": due, "timeline": timeline[:2000]}

    def check_codes(self, state: Complaint, command: Classify) -> None:
        """Codes must be in the profile's tables (the only refusal of :meth:`classify`)."""
        profile = self.profile(state)
        for table, code in (("business_types", command.business_type), ("causes", command.cause_code)):
            problem = profile.check_code(table, code)
            if problem:
                raise DomainError(problem)

    def classify(self, state: Complaint, command: Classify) -> list[ClockStart]:
        """Codes must be in the profile's tables; a new business type may switch the rule."""
        self.check_codes(state, command)
        profile = self.profile(state)
        business_type = command.business_type or state.effective_business_type
        events: list[ClockStart] = []
        for clock in state.clocks.open():
            if clock.basis is ClockBasis.review:
                continue
            spec = profile.clock_for_sla(clock.sla, business_type)
            if spec is not None and spec.key != clock.clock:
                # the other rule applies from the same start (e.g. 8 weeks → 15 business days)
                events.append(
                    self.start_clock(profile, spec, ClockBasis.reclassified, clock.started_at, state.calendar)
                )
        return events

    def hold(self, state: Complaint, command: Hold) -> dict[str, Any]:
        """What a hold under the profile adds: tell the complainant? which clocks stop?"""
        return {
            "inform_complainant": command.kind in self.profile(state).inform_on_pause,
            "regulatory_clocks_paused": [c.sla for c in state.clocks.open() if command.kind in c.pauses_on],
        }

    def resume(self, state: Complaint, command: Resume) -> dict[str, Any]:
        """What a resume under the profile adds: tell the complainant, and the new decision date."""
        clock = state.clocks.get(REGULATORY_SLA)
        due = None
        if clock is not None and clock.paused:
            after = Clocks((clock,)).resume(command.at).current[0]
            due = self.math.due(after)
        return {
            "inform_complainant": state.hold_kind in self.profile(state).inform_on_pause,
            "regulatory_due_at": due,
        }

    def answer(self, state: Complaint, command: Answer) -> list[ClockOutcome]:
        profile = self.profile(state)
        kind = command.response_kind or ResponseKind.final
        if kind is ResponseKind.summary_resolution:
            days = profile.summary_resolution_business_days
            if days is None:
                raise DomainError(
                    f"cannot send a summary resolution communication: the {profile.name} profile has none; "
                    "send the final response"
                )
            start = state.cycle_started_at or state.received_at
            assert start is not None
            end = self.math.summary_window_end(start, days, state.calendar, profile.business_weekdays)
            if command.at > end:
                raise DomainError(
                    f"too late for a summary resolution communication: it needs the complaint resolved by "
                    f"close of business on business day {days} after receipt ({end:%Y-%m-%d %H:%M} UTC); "
                    "send a final response that points to the Financial Ombudsman Service"
                )
        if profile.final_response_refers_to_ombudsman and not command.refers_to_ombudsman:
            raise DomainError(
                f"the response must tell the complainant of their right to refer the complaint to the "
                f"Financial Ombudsman Service ({profile.name}); confirm it with refers_to_ombudsman"
            )
        return self.outcomes(state, "answer", command.at)

    def close(self, state: Complaint, command: Close) -> None:
        profile = self.profile(state)
        problem = profile.check_code("causes", command.cause_code)
        if problem:
            raise DomainError(problem)
        major = state.classification is not None and state.classification.nature is Nature.major
        reasons = []
        if major and "major" in profile.root_cause_required_for:
            reasons.append("a major complaint")
        if command.bank_at_fault and "bank_at_fault" in profile.root_cause_required_for:
            reasons.append("a complaint where the bank was at fault")
        if reasons and not state.root_cause_recorded:
            actions = command.remediation_actions
            enough = actions if profile.remediation_actions_required else (actions or command.remediation)
            if not (command.root_cause and enough):
                need = (
                    "remediation actions, each with an owner and a due date"
                    if profile.remediation_actions_required
                    else "a remediation action"
                )
                raise DomainError(
                    f"cannot close {' or '.join(reasons)} without its root cause and {need} (溯源整改)"
                )
        ids = [a.action_id for a in command.remediation_actions]
        if len(set(ids)) != len(ids):
            raise DomainError("cannot close: two remediation actions have the same id")
        for action in command.remediation_actions:
            if action.due_at <= command.at:
                raise DomainError(
                    f"cannot close: remediation action {action.action_id} is due "
                    f"{action.due_at:%Y-%m-%d %H:%M}, which is not after the close"
                )

    # ------------------------------------------------------------------------ repeats and facts

    def repeat(self, state: Complaint, command: RecordRepeat) -> dict[str, Any]:
        """A repeat with new facts restarts the decision clock (cn-2020)."""
        restart = command.new_facts and self._restarts(state)
        return {"regulatory_clocks": self.starts(state, ClockBasis.new_facts, command.at) if restart else []}

    def _restarts(self, state: Complaint) -> bool:
        profile = self.profile(state)
        return profile.restart_on_new_facts and state.status not in {Status.answered, Status.under_review}

    def new_material(self, state: Complaint, command: RecordNewMaterial) -> dict[str, Any]:
        """New material before the decision restarts the clock; after it, it goes to a review."""
        if state.status in {Status.answered, Status.under_review}:
            raise DomainError(
                "cannot record new material: the decision was already given; new facts after the decision "
                "go to a review by the higher level or a reopen"
            )
        starts = self.starts(state, ClockBasis.new_facts, command.at) if self._restarts(state) else []
        return {"restarts_clock": bool(starts), "regulatory_clocks": starts}

    # ------------------------------------------------------------------------------ extensions

    def extended(self, clock: RegClock, to: int, **said: Any) -> RegulatoryDeadlineExtended:
        """``clock`` moved to ``to`` (its new limit, in its unit): what the clock says of it, and
        ``said`` by keyword (the case, the reason, the time, who requested and approved it)."""
        extension, due_at = len(clock.extensions) + 1, self.math.due(clock, to)
        return RegulatoryDeadlineExtended(
            limit_days=to, extension=extension, sla=clock.sla, unit=clock.unit, due_at=due_at, **said
        )

    # ------------------------------------------------------------------------------ milestones

    def milestone(self, state: Complaint, cid: UUID, command: RecordSlaAtRisk) -> list[EventData]:
        """A warning before a regulatory limit: what the branch head should do now."""
        clock = state.clocks.get(command.deadline.sla)
        if clock is None or not clock.is_open:
            return []
        spec = self.profile(state).clocks.get(clock.clock)
        day = round(command.used_fraction * clock.limit, 1)
        action = spec.action(clock.limit, day) if spec else f"day {day:g} of {clock.limit}: act now"
        return [
            RegulatoryMilestoneReached(
                complaint_id=cid,
                deadline_id=command.deadline.deadline_id,
                sla=clock.sla,
                profile=clock.profile,
                limit=clock.limit,
                unit=clock.unit,
                day=day,
                due_at=command.deadline.due_at,
                action=action[:500],
                at=command.at,
            )
        ]
