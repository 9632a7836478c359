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
    DecideExtension,
    DecideReview,
    ExtendRegulatoryDeadline,
    Hold,
    RecordNewMaterial,
    RecordRepeat,
    RecordSlaAtRisk,
    RequestExtension,
    RequestReview,
    Resume,
    SendInterimResponse,
)
from services.complaint.regclocks import ClockMath, Clocks, RegClock, started
from services.complaint.regulation import ClockSpec, Profile, Regulation
from services.complaint.state import LEVELS, REGULATORY_SLA, Complaint, Status
from shared.contracts.complaint import (
    ClockBasis,
    ClockOutcome,
    ClockStart,
    ComplaintEscalated,
    ComplaintPutOnHold,
    ComplaintResumed,
    EscalationCause,
    ExtensionApproved,
    ExtensionDenied,
    ExtensionRequested,
    InterimResponseSent,
    LimitUnit,
    Nature,
    NewMaterialReceived,
    RegulatoryDeadlineExtended,
    RegulatoryMilestoneReached,
    RepeatComplaintMerged,
    ResponseKind,
    ReviewDecided,
    ReviewRequested,
)
from shared.contracts.text import TextRef
from shared.decider import DomainError
from shared.registry import EventData

ANONYMOUS = frozenset({"anonymous", "unknown", ""})


def _unit(unit: LimitUnit, n: int | float) -> str:
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

    def _open_clock(self, state: Complaint, sla: str, what: str) -> RegClock:
        clock = state.clocks.get(sla)
        if clock is None or not clock.is_open:
            raise DomainError(f"cannot {what}: no regulatory deadline {sla} is running")
        return clock

    def _not_passed(self, clock: RegClock, at: datetime, what: str) -> datetime:
        due = self.math.due(clock, until=at)
        if at > due:
            raise DomainError(
                f"cannot {what}: the {_unit(clock.unit, clock.limit)} limit already passed on "
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
            timeline = f"A decision by {due:%Y-%m-%d} ({_unit(clock.unit, clock.limit)})."
        return {"expected_response_by": due, "timeline": timeline[:2000]}

    def classify(self, state: Complaint, command: Classify) -> list[ClockStart]:
        """Codes must be in the profile's tables; a new business type may switch the rule."""
        profile = self.profile(state)
        for table, code in (("business_types", command.business_type), ("causes", command.cause_code)):
            problem = profile.check_code(table, code)
            if problem:
                raise DomainError(problem)
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

    def hold(self, state: Complaint, cid: UUID, command: Hold) -> ComplaintPutOnHold:
        profile = self.profile(state)
        return ComplaintPutOnHold(
            complaint_id=cid,
            reason=command.reason,
            kind=command.kind,
            at=command.at,
            inform_complainant=command.kind in profile.inform_on_pause,
            regulatory_clocks_paused=[c.sla for c in state.clocks.open() if command.kind in c.pauses_on],
        )

    def resume(self, state: Complaint, cid: UUID, command: Resume) -> ComplaintResumed:
        profile = self.profile(state)
        clock = state.clocks.get(REGULATORY_SLA)
        due = None
        if clock is not None and clock.paused:
            after = Clocks((clock,)).resume(command.at).current[0]
            due = self.math.due(after)
        return ComplaintResumed(
            complaint_id=cid,
            at=command.at,
            note=command.note,
            inform_complainant=state.hold_kind in profile.inform_on_pause,
            regulatory_due_at=due,
        )

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

    def repeat(self, state: Complaint, cid: UUID, command: RecordRepeat) -> list[EventData]:
        restart = command.new_facts and self._restarts(state)
        return [
            RepeatComplaintMerged(
                complaint_id=cid,
                at=command.at,
                channel=command.channel,
                customer_ref=command.customer_ref,
                matter_key=command.matter_key,
                description=command.description,
                received_in_branch=command.received_in_branch,
                new_facts=command.new_facts,
                source_event_id=command.source_event_id,
                regulatory_clocks=self.starts(state, ClockBasis.new_facts, command.at) if restart else [],
            )
        ]

    def _restarts(self, state: Complaint) -> bool:
        profile = self.profile(state)
        return profile.restart_on_new_facts and state.status not in {Status.answered, Status.under_review}

    def new_material(self, state: Complaint, cid: UUID, command: RecordNewMaterial) -> list[EventData]:
        if state.status in {Status.answered, Status.under_review}:
            raise DomainError(
                "cannot record new material: the decision was already given; new facts after the decision "
                "go to a review by the higher level or a reopen"
            )
        starts = self.starts(state, ClockBasis.new_facts, command.at) if self._restarts(state) else []
        return [
            NewMaterialReceived(
                complaint_id=cid,
                at=command.at,
                summary=command.summary,
                restarts_clock=bool(starts),
                regulatory_clocks=starts,
            )
        ]

    # ------------------------------------------------------------------------------ extensions

    def extend(self, state: Complaint, cid: UUID, command: ExtendRegulatoryDeadline) -> list[EventData]:
        what = "extend the regulatory deadline"
        if state.status is Status.answered:
            raise DomainError("cannot extend the regulatory deadline: the customer already has the decision")
        clock = self._open_clock(state, REGULATORY_SLA, what)
        spec = self.profile(state).clocks.get(clock.clock)
        step = spec.step_after(len(clock.extensions)) if spec else None
        if step is None:
            raise DomainError(
                "cannot extend the regulatory deadline again: it is already "
                f"{_unit(clock.unit, clock.limit)}, "
                f"the most {clock.profile} allows"
            )
        if step.needs == "approval":
            raise DomainError(
                "cannot extend the regulatory deadline again: it was already extended to "
                f"{clock.limit} days in this cycle; a further extension to {step.to} days needs approval by "
                "higher-level management (request-extension)"
            )
        if step.needs != "reason":
            raise DomainError(
                f"cannot {what}: under {clock.profile} it moves only with a {step.needs} response"
            )
        if REGULATORY_SLA in state.breached_slas:
            raise DomainError(f"cannot {what}: the {clock.limit}-day limit has already passed")
        self._not_passed(clock, command.at, what)
        return [self._extended(cid, clock, step.to, command.reason, command.at)]

    def _extended(
        self,
        cid: UUID,
        clock: RegClock,
        to: int,
        reason: TextRef,
        at: datetime,
        requested_by: str | None = None,
        approved_by: str | None = None,
    ) -> RegulatoryDeadlineExtended:
        return RegulatoryDeadlineExtended(
            complaint_id=cid,
            reason=reason,
            limit_days=to,
            extension=len(clock.extensions) + 1,
            at=at,
            sla=clock.sla,
            unit=clock.unit,
            requested_by=requested_by,
            approved_by=approved_by,
            due_at=self.math.due(clock, to),
        )

    def request_extension(self, state: Complaint, cid: UUID, command: RequestExtension) -> list[EventData]:
        what = "request a further extension"
        if command.by in ANONYMOUS:
            raise DomainError(f"cannot {what}: the request needs an identified member of staff")
        if state.status is Status.answered:
            raise DomainError(f"cannot {what}: the customer already has the decision")
        if state.pending_extension is not None:
            raise DomainError(
                f"cannot {what}: the request of {state.pending_extension.requested_by} is still waiting "
                "for a decision"
            )
        clock = self._open_clock(state, REGULATORY_SLA, what)
        spec = self.profile(state).clocks.get(clock.clock)
        step = spec.step_after(len(clock.extensions)) if spec else None
        if step is None or step.needs != "approval":
            hint = (
                "extend it with a reason (extend)"
                if step and step.needs == "reason"
                else "no approval step is left"
            )
            raise DomainError(f"cannot {what} now: {hint}")
        self._not_passed(clock, command.at, what)
        return [
            ExtensionRequested(
                complaint_id=cid,
                request_id=command.request_id,
                sla=clock.sla,
                requested_by=command.by,
                reason=command.reason,
                limit_days=step.to,
                extension=len(clock.extensions) + 1,
                at=command.at,
            )
        ]

    def decide_extension(self, state: Complaint, cid: UUID, command: DecideExtension) -> list[EventData]:
        verb = "approve" if command.approve else "deny"
        request = state.pending_extension
        if request is None:
            raise DomainError(f"cannot {verb} an extension: no extension request is waiting for a decision")
        if command.by in ANONYMOUS:
            raise DomainError(f"cannot {verb} an extension: the decision needs an identified member of staff")
        if command.by == request.requested_by:
            raise DomainError(
                f"cannot {verb} the extension: {command.by} requested it, and the requester cannot decide "
                "their own request; higher-level management decides"
            )
        if command.by in state.about_staff:
            raise DomainError(f"cannot {verb} the extension: the complaint is about {command.by} (recusal)")
        if not command.approve:
            if command.note is None:
                raise DomainError("cannot deny the extension without a reason")
            return [
                ExtensionDenied(
                    complaint_id=cid,
                    request_id=request.request_id,
                    sla=request.sla,
                    denied_by=command.by,
                    requested_by=request.requested_by,
                    reason=command.note,
                    at=command.at,
                )
            ]
        clock = self._open_clock(state, request.sla, "approve the extension")
        self._not_passed(clock, command.at, "approve the extension")
        return [
            ExtensionApproved(
                complaint_id=cid,
                request_id=request.request_id,
                sla=request.sla,
                approved_by=command.by,
                requested_by=request.requested_by,
                limit_days=request.limit_days,
                note=command.note,
                at=command.at,
            ),
            self._extended(
                cid, clock, request.limit_days, request.reason, command.at, request.requested_by, command.by
            ),
        ]

    # ------------------------------------------------------------------------ interim responses

    def interim(self, state: Complaint, cid: UUID, command: SendInterimResponse) -> list[EventData]:
        profile = self.profile(state)
        what = f"send a {command.kind.value.replace('_', ' ')} response"
        if command.kind not in profile.interim_responses:
            allowed = ", ".join(sorted(profile.interim_responses)) or "none"
            raise DomainError(f"cannot {what}: the {profile.name} profile's interim responses are: {allowed}")
        if state.status in {Status.answered, Status.under_review}:
            raise DomainError(f"cannot {what}: the customer already has the decision")
        if profile.final_response_refers_to_ombudsman and not command.refers_to_ombudsman:
            raise DomainError(
                f"cannot {what}: it must tell the complainant of their right to refer the complaint to the "
                "Financial Ombudsman Service; confirm it with refers_to_ombudsman"
            )
        outcomes: list[ClockOutcome] = []
        effects: list[EventData] = []
        final_by: datetime | None = None
        for clock in state.clocks.open():
            if command.kind.value in clock.met_by:
                outcomes.append(self.outcome(clock, command.kind.value, command.at))
                continue
            spec = profile.clocks.get(clock.clock)
            step = spec.step_after(len(clock.extensions)) if spec else None
            if step is not None and step.needs == command.kind.value:
                self._not_passed(clock, command.at, what)
                extended = self._extended(cid, clock, step.to, command.note, command.at)
                final_by = extended.due_at
                effects.append(extended)
        if not effects and not outcomes:
            raise DomainError(f"cannot {what}: no regulatory deadline of this case waits for one")
        sent = InterimResponseSent(
            complaint_id=cid,
            kind=command.kind,
            note=command.note,
            refers_to_ombudsman=command.refers_to_ombudsman,
            final_response_by=final_by,
            at=command.at,
            regulatory_outcomes=outcomes,
        )
        return [sent, *effects]

    # ---------------------------------------------------------------------------------- review

    def request_review(self, state: Complaint, cid: UUID, command: RequestReview) -> list[EventData]:
        profile = self.profile(state)
        what = "request a review"
        if not profile.has_review:
            raise DomainError(f"cannot {what}: the {profile.name} profile has no review by a higher level")
        if state.status not in {Status.answered, Status.closed} or state.decision_at is None:
            raise DomainError(
                f"cannot {what}: a review examines a decision, and the complainant has none yet"
            )
        if state.reviewed_decision_at == state.decision_at:
            raise DomainError(
                f"cannot {what}: this decision was already reviewed; the review decision is final"
            )
        window = profile.review_request_window_days
        if window is not None and command.at - state.decision_at > timedelta(days=window):
            raise DomainError(
                f"cannot {what}: the decision was given on {state.decision_at:%Y-%m-%d}, more than "
                f"{window} days ago"
            )
        assert state.complaint_id is not None
        index = LEVELS.index(state.level)
        reviewing = LEVELS[min(index + 1, len(LEVELS) - 1)]
        events: list[EventData] = [
            ReviewRequested(
                complaint_id=cid,
                at=command.at,
                reason=command.reason,
                cycle=state.cycle + 1,
                decision_at=state.decision_at,
                reviewing_level=reviewing,
                regulatory_clocks=self.starts(state, ClockBasis.review, command.at),
            )
        ]
        if reviewing != state.level:
            events.append(
                ComplaintEscalated(
                    complaint_id=cid,
                    from_level=state.level,
                    to_level=reviewing,
                    automatic=True,
                    causes=[EscalationCause.review_requested],
                    at=command.at,
                )
            )
        return events

    def decide_review(self, state: Complaint, cid: UUID, command: DecideReview) -> list[EventData]:
        if state.status is not Status.under_review:
            raise DomainError("cannot decide a review: no review is under way")
        return [
            ReviewDecided(
                complaint_id=cid,
                at=command.at,
                outcome=command.outcome,
                decision=command.decision,
                cycle=state.cycle,
                regulatory_outcomes=self.outcomes(state, "review_decision", command.at),
            )
        ]

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
