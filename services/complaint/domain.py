"""The complaint case decider: pure, no I/O; time arrives inside commands.

A case moves received → acknowledged → classified → investigating → solutions_proposed →
(solution_accepted | solutions_rejected → propose again) → implemented → answered → closed, and
can be reopened within 30 days of its close (a new cycle of the same case). Alongside the main
line: put on hold while waiting on the customer (its SLA clocks pause), escalated one level at a
time (never down), merged into an incident (many complaints, one cause). A command that is not
allowed now raises :class:`DomainError` with a reason a lobby manager understands; nothing is
recorded. Deadlines are not decided here: the application starts and stops them from the events.

A case received under a regulatory profile (``regulation``, see :mod:`regulation`) also follows
that profile's rules (:mod:`regulated`): its regulatory clocks travel on the events that start and
meet them, so the case's state — and every deadline — can be recomputed from its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.complaint.commands import (
    AcceptSolution,
    Acknowledge,
    Answer,
    AssignHandler,
    Classify,
    Close,
    Command,
    DecideExtension,
    DecideReview,
    Escalate,
    ExtendRegulatoryDeadline,
    GiveProgressUpdate,
    HandleFailedVerification,
    Hold,
    IdentifyStaff,
    ImplementSolution,
    MergeIntoIncident,
    ProposeSolutions,
    ReceiveComplaint,
    RecordCustomerLeft,
    RecordNewMaterial,
    RecordRepeat,
    RecordSlaAtRisk,
    RecordSlaBreached,
    RejectSolution,
    Reopen,
    RequestExtension,
    RequestReview,
    Resume,
    SendInterimResponse,
    SlaFacts,
    StartInvestigation,
)
from services.complaint.regulated import RegulatoryRules
from services.complaint.regulation import Regulation
from services.complaint.state import (
    LEVELS,
    OPEN_STATUSES,
    REGULATORY_SLA,
    RESOLVE_SLA,
    Classification,
    Complaint,
    PendingExtension,
    Solution,
    SolutionStatus,
    Status,
)
from shared.contracts.complaint import (
    Channel,
    ClockBasis,
    ClockStart,
    ComplaintAcknowledged,
    ComplaintAnswered,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintCorrectionFailed,
    ComplaintEscalated,
    ComplaintMergedIntoIncident,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintResumed,
    ComplaintStaffIdentified,
    CustomerLeftBranch,
    EscalationCause,
    ExtensionApproved,
    ExtensionDenied,
    ExtensionRequested,
    HandlerAssigned,
    HoldKind,
    InterimResponseSent,
    InvestigationStarted,
    Level,
    Nature,
    NewMaterialReceived,
    Outcome,
    ProgressUpdateGiven,
    RegulatoryDeadlineExtended,
    RepeatComplaintMerged,
    ReviewDecided,
    ReviewRequested,
    SolutionAccepted,
    SolutionImplemented,
    SolutionRejected,
    SolutionsProposed,
    Urgency,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef
from shared.decider import Decider, DomainError
from shared.registry import EventData

# ------------------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class ComplaintRules:
    """The configurable part of the lifecycle (defaults from the issue and design.md)."""

    escalate_on_major: bool = True
    escalate_on_urgent: bool = True
    escalate_on_resolve_breach: bool = True
    reopen_window: timedelta = timedelta(days=30)
    #: 溯源整改: closing a major complaint needs a root cause and a remediation
    require_root_cause_for_major: bool = True
    regulatory_limit_days: int = 15
    regulatory_extended_days: int = 30
    max_regulatory_extensions: int = 1


DEFAULT_RULES = ComplaintRules()

#: commands a case on hold still takes (everything else waits for resume)
_ALLOWED_ON_HOLD = (
    Hold,
    Resume,
    Escalate,
    MergeIntoIncident,
    Classify,
    GiveProgressUpdate,
    ExtendRegulatoryDeadline,
    RecordCustomerLeft,
    HandleFailedVerification,
    RecordSlaAtRisk,
    RecordSlaBreached,
    RecordRepeat,
    RecordNewMaterial,
    IdentifyStaff,
    AssignHandler,
    RequestExtension,
    DecideExtension,
)
#: commands a case under review takes (the rest waits for the review decision)
_ALLOWED_UNDER_REVIEW = (
    Hold,
    Resume,
    Escalate,
    MergeIntoIncident,
    GiveProgressUpdate,
    RecordCustomerLeft,
    RecordSlaAtRisk,
    RecordSlaBreached,
    RecordRepeat,
    IdentifyStaff,
    AssignHandler,
    DecideReview,
)

# ----------------------------------------------------------------------------------------- decide


def _next_level(level: Level) -> Level | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def _require_open(state: Complaint, what: str) -> UUID:
    if state.status is Status.none:
        raise DomainError(f"cannot {what}: this complaint does not exist")
    if state.status is Status.closed:
        raise DomainError(f"cannot {what}: the case is closed; only reopening it is possible")
    assert state.complaint_id is not None
    return state.complaint_id


def _require_exists(state: Complaint, what: str) -> None:
    if state.status is Status.none:
        raise DomainError(f"cannot {what}: this complaint does not exist")


def _require_status(state: Complaint, what: str, allowed: set[Status], hint: str) -> None:
    if state.status not in allowed:
        raise DomainError(f"cannot {what} while the case is {state.status.value.replace('_', ' ')}: {hint}")


class ComplaintDecider:
    """``decide`` under a set of :class:`ComplaintRules` and, for cases received under one, the
    case's regulatory profile (``regulation``; without it only the lifecycle rules apply)."""

    def __init__(self, rules: ComplaintRules = DEFAULT_RULES, regulation: Regulation | None = None) -> None:
        self.rules = rules
        self.regulation = regulation
        self.reg = RegulatoryRules(regulation) if regulation is not None else None

    def _reg(self, state: Complaint) -> RegulatoryRules | None:
        """The profile's rules, for a case received under a profile."""
        return self.reg if state.profile is not None else None

    def decide(self, state: Complaint, command: Command) -> Sequence[EventData]:
        if isinstance(command, ReceiveComplaint):
            return self._receive(state, command)
        if isinstance(command, Reopen):
            return self._reopen(state, command)
        if isinstance(command, HandleFailedVerification):
            return self._failed_verification(state, command)
        reg = self._reg(state)
        if isinstance(command, RequestReview):
            if reg is None:
                raise DomainError("cannot request a review: this case follows no regulatory profile")
            _require_exists(state, "request a review")
            if state.on_hold:
                raise DomainError("cannot request a review: the case is on hold; resume it first")
            assert state.complaint_id is not None
            return reg.request_review(state, state.complaint_id, command)
        cid = _require_open(state, _verb(command))
        if state.on_hold and not isinstance(command, _ALLOWED_ON_HOLD):
            raise DomainError(
                f"cannot {_verb(command)}: the case is on hold ({_hold_kind(state)}); resume it first"
            )
        if state.status is Status.under_review and not isinstance(command, _ALLOWED_UNDER_REVIEW):
            raise DomainError(
                f"cannot {_verb(command)}: the higher level is reviewing the decision; record the review "
                "decision first"
            )
        regulatory = self._regulatory(state, reg, cid, command)
        if regulatory is not None:
            return regulatory
        match command:
            case Acknowledge():
                _require_status(
                    state, "acknowledge", {Status.received, Status.reopened}, "it was already acknowledged"
                )
                timeline = reg.acknowledgement(state, command) if reg else {}
                return [
                    ComplaintAcknowledged(
                        complaint_id=cid,
                        at=command.at,
                        apology=command.apology,
                        cycle=state.cycle,
                        **timeline,
                    )
                ]
            case Classify():
                return self._classify(state, cid, command)
            case StartInvestigation():
                ready = {Status.classified} | ({Status.acknowledged} if state.classification else set())
                if state.status not in ready:
                    hint = "the investigation has already started"
                    if state.status in {Status.received, Status.reopened}:
                        hint = "acknowledge the customer first"
                    elif state.status is Status.acknowledged:
                        hint = "classify it first"
                    _require_status(state, "start the investigation", ready, hint)
                return [InvestigationStarted(complaint_id=cid, at=command.at, note=command.note)]
            case ProposeSolutions():
                return self._propose(state, cid, command)
            case AcceptSolution():
                self._pending_solution(state, command.solution_id, "accept")
                return [
                    SolutionAccepted(
                        complaint_id=cid, solution_id=command.solution_id, at=command.at, note=command.note
                    )
                ]
            case RejectSolution():
                self._pending_solution(state, command.solution_id, "reject")
                return [
                    SolutionRejected(
                        complaint_id=cid,
                        solution_id=command.solution_id,
                        at=command.at,
                        reason=command.reason,
                    )
                ]
            case ImplementSolution():
                return self._implement(state, cid, command)
            case Answer():
                return self._answer(state, cid, command)
            case Close():
                return self._close(state, cid, command)
            case Hold():
                _require_status(
                    state,
                    "put the case on hold",
                    set(OPEN_STATUSES) - {Status.received, Status.reopened},
                    "acknowledge the customer first",
                )
                if state.on_hold:
                    raise DomainError("cannot put the case on hold: it is already on hold")
                if reg is not None:
                    return [reg.hold(state, cid, command)]
                return [
                    ComplaintPutOnHold(
                        complaint_id=cid, reason=command.reason, kind=command.kind, at=command.at
                    )
                ]
            case Resume():
                if not state.on_hold:
                    raise DomainError("cannot resume: the case is not on hold")
                if reg is not None:
                    return [reg.resume(state, cid, command)]
                return [ComplaintResumed(complaint_id=cid, at=command.at, note=command.note)]
            case Escalate():
                return self._escalate(state, cid, command)
            case MergeIntoIncident():
                if state.incident_id == command.incident_id:
                    raise DomainError("cannot merge: the case is already part of this incident")
                if state.incident_id is not None:
                    raise DomainError(
                        f"cannot merge: the case is already part of incident {state.incident_id}"
                    )
                return [
                    ComplaintMergedIntoIncident(
                        complaint_id=cid, incident_id=command.incident_id, cause=command.cause, at=command.at
                    )
                ]
            case RecordCustomerLeft():
                if state.customer_left_at is not None:
                    raise DomainError("the customer's departure was already recorded")
                if state.channel is not Channel.in_branch:
                    raise DomainError("only an in-branch complaint records the customer leaving the branch")
                return [CustomerLeftBranch(complaint_id=cid, visit_id=command.visit_id, at=command.at)]
            case GiveProgressUpdate():
                _require_status(
                    state,
                    "record a progress update",
                    set(OPEN_STATUSES) - {Status.received, Status.reopened, Status.answered},
                    "acknowledge the customer first"
                    if state.status is not Status.answered
                    else "the customer already has the answer",
                )
                return [ProgressUpdateGiven(complaint_id=cid, note=command.note, at=command.at)]
            case ExtendRegulatoryDeadline():
                if reg is not None:
                    return reg.extend(state, cid, command)
                return self._extend(state, cid, command)
            case RecordSlaAtRisk():
                facts = command.deadline
                if (facts.deadline_id, facts.sla, milestone(command.used_fraction)) in state.sla_fired:
                    raise DomainError(f"{facts.sla} was already recorded as at risk")
                return [
                    SlaAtRisk(at=command.at, used_fraction=command.used_fraction, **_sla_fields(cid, facts)),
                    *(reg.milestone(state, cid, command) if reg else []),
                ]
            case RecordSlaBreached():
                return self._breached(state, cid, command)
        raise DomainError(f"unknown command {type(command).__name__}")

    def _regulatory(
        self, state: Complaint, reg: RegulatoryRules | None, cid: UUID, command: Command
    ) -> list[EventData] | None:
        """The commands of issue 8 (None: not one of them)."""
        match command:
            case AssignHandler():
                return self._assign(state, cid, command)
            case IdentifyStaff():
                return self._identify(state, cid, command)
            case RecordRepeat():
                if reg is not None:
                    return reg.repeat(state, cid, command)
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
                    )
                ]
            case RecordNewMaterial():
                if reg is not None:
                    return reg.new_material(state, cid, command)
                return [
                    NewMaterialReceived(
                        complaint_id=cid, at=command.at, summary=command.summary, restarts_clock=False
                    )
                ]
        if not isinstance(command, RequestExtension | DecideExtension | SendInterimResponse | DecideReview):
            return None
        if reg is None:
            raise DomainError(f"cannot {_verb(command)}: this case follows no regulatory profile")
        match command:
            case RequestExtension():
                return reg.request_extension(state, cid, command)
            case DecideExtension():
                return reg.decide_extension(state, cid, command)
            case SendInterimResponse():
                return reg.interim(state, cid, command)
            case DecideReview():
                return reg.decide_review(state, cid, command)
        return None

    # --- one method per command that needs more than a guard ------------------------------------

    def _receive(self, state: Complaint, command: ReceiveComplaint) -> list[EventData]:
        if state.status is not Status.none:
            raise DomainError(f"complaint {command.complaint_id} was already received")
        profile = None
        if self.regulation is not None and command.profile is not None:
            profile = self.regulation.profile(command.profile)
            assert self.reg is not None
            self.reg.check_receipt(profile, len(command.representatives), command.business_type)
        received = ComplaintReceived(
            complaint_id=command.complaint_id,
            channel=command.channel,
            customer_ref=command.customer_ref,
            description=command.description,
            visit_id=command.visit_id,
            received_at=command.received_at,
            source_event_id=command.source_event_id,
            regulatory_profile=profile.name if profile else None,
            business_type=command.business_type,
            matter_key=command.matter_key,
            about_staff=list(dict.fromkeys(command.about_staff)),
            collective=command.collective or bool(command.representatives),
            representatives=list(dict.fromkeys(command.representatives)),
            regulatory_clocks=[
                self.reg.start_clock(profile, spec, ClockBasis.receipt, command.received_at, command.calendar)
                for spec in profile.clocks_for(ClockBasis.receipt, command.business_type)
            ]
            if profile is not None and self.reg is not None
            else [],
        )
        events: list[EventData] = [received]
        if command.customer_left_at is not None and command.channel is Channel.in_branch:
            left = max(command.customer_left_at, command.received_at)
            events.append(
                CustomerLeftBranch(complaint_id=command.complaint_id, visit_id=command.visit_id, at=left)
            )
        return events

    def _assign(self, state: Complaint, cid: UUID, command: AssignHandler) -> list[EventData]:
        recusal = (
            self.regulation is None or state.profile is None or self.regulation.profile(state.profile).recusal
        )
        if recusal and command.handler in state.about_staff:
            raise DomainError(
                f"cannot assign {command.handler}: the complaint is about this member of staff, who must not "
                "handle it (recusal); assign someone else"
            )
        if command.handler == state.handler:
            raise DomainError(f"{command.handler} already handles this case")
        return [
            HandlerAssigned(complaint_id=cid, handler=command.handler, previous=state.handler, at=command.at)
        ]

    def _identify(self, state: Complaint, cid: UUID, command: IdentifyStaff) -> list[EventData]:
        new = [s for s in dict.fromkeys(command.staff_ids) if s not in state.about_staff]
        if not new:
            raise DomainError(
                "these members of staff were already recorded as the ones the complaint is about"
            )
        if state.handler in new:
            raise DomainError(
                f"cannot record that the complaint is about {state.handler}: {state.handler} handles the "
                "case; assign another handler first (recusal)"
            )
        return [ComplaintStaffIdentified(complaint_id=cid, staff_ids=new, at=command.at)]

    def _classify(self, state: Complaint, cid: UUID, command: Classify) -> list[EventData]:
        _require_status(
            state,
            "classify",
            set(OPEN_STATUSES) - {Status.received, Status.reopened, Status.answered},
            "acknowledge the customer first"
            if state.status is not Status.answered
            else "the customer already has the answer",
        )
        reg = self._reg(state)
        switched = reg.classify(state, command) if reg else []
        events: list[EventData] = [
            ComplaintClassified(
                complaint_id=cid,
                category=command.category,
                nature=command.nature,
                source=command.source,
                urgency=command.urgency,
                at=command.at,
                business_type=command.business_type,
                cause_code=command.cause_code,
                regulatory_clocks=switched,
            ),
        ]
        causes = []
        if self.rules.escalate_on_major and command.nature is Nature.major:
            causes.append(EscalationCause.major)
        if self.rules.escalate_on_urgent and command.urgency is Urgency.urgent:
            causes.append(EscalationCause.urgent)
        upper = _next_level(state.level)
        if causes and not state.classification_escalated and upper is not None:
            events.append(
                ComplaintEscalated(
                    complaint_id=cid,
                    from_level=state.level,
                    to_level=upper,
                    automatic=True,
                    causes=causes,
                    at=command.at,
                )
            )
        return events

    def _propose(self, state: Complaint, cid: UUID, command: ProposeSolutions) -> list[EventData]:
        _require_status(
            state,
            "propose solutions",
            {Status.investigating, Status.solutions_proposed, Status.solutions_rejected},
            _propose_hint(state.status),
        )
        if not command.solutions:
            raise DomainError("cannot propose solutions: propose at least one")
        ids = [s.solution_id for s in command.solutions]
        if len(set(ids)) != len(ids) or any(state.solution(i) is not None for i in ids):
            raise DomainError("cannot propose solutions: a solution with this id was already proposed")
        return [SolutionsProposed(complaint_id=cid, solutions=list(command.solutions), at=command.at)]

    def _pending_solution(self, state: Complaint, solution_id: UUID, verb: str) -> None:
        solution = state.solution(solution_id)
        if solution is None or solution.cycle != state.cycle:
            raise DomainError(f"cannot {verb} solution {solution_id}: it was not proposed for this case")
        if solution.status is not SolutionStatus.proposed:
            raise DomainError(
                f"cannot {verb} solution {solution_id}: the customer already decided on it "
                f"(it is {solution.status.value})"
            )
        _require_status(
            state,
            f"{verb} a solution",
            {Status.solutions_proposed, Status.solution_accepted},
            "the customer decides on solutions only while they are on the table",
        )

    def _implement(self, state: Complaint, cid: UUID, command: ImplementSolution) -> list[EventData]:
        solution = state.solution(command.solution_id)
        if solution is None or solution.cycle != state.cycle:
            raise DomainError(
                f"cannot implement solution {command.solution_id}: it was not proposed for this case"
            )
        if solution.status is SolutionStatus.implemented:
            raise DomainError(f"cannot implement solution {command.solution_id}: it is already implemented")
        if solution.status is not SolutionStatus.accepted:
            raise DomainError(
                f"cannot implement solution {command.solution_id}: the customer has not accepted it "
                f"(it is {solution.status.value})"
            )
        return [
            SolutionImplemented(
                complaint_id=cid, solution_id=command.solution_id, at=command.at, note=command.note
            )
        ]

    def _answer(self, state: Complaint, cid: UUID, command: Answer) -> list[EventData]:
        if command.outcome is Outcome.not_upheld:
            _require_status(
                state,
                "answer that the complaint is not upheld",
                {Status.investigating, Status.solutions_rejected},
                "a complaint is found not upheld after investigating it, with no solution on the table",
            )
        else:
            _require_status(
                state,
                "answer the customer",
                {Status.implemented},
                "implement an accepted solution first"
                if state.status is not Status.answered
                else "the customer was already answered",
            )
        reg = self._reg(state)
        outcomes = reg.answer(state, command) if reg else []
        answered = ComplaintAnswered(
            complaint_id=cid,
            outcome=command.outcome,
            answer=command.answer,
            at=command.at,
            response_kind=command.response_kind,
            refers_to_ombudsman=command.refers_to_ombudsman,
            regulatory_outcomes=outcomes,
        )
        return [answered]

    def _close(self, state: Complaint, cid: UUID, command: Close) -> list[EventData]:
        _require_status(state, "close", {Status.answered}, "answer the customer first")
        reg = self._reg(state)
        if reg is not None:
            reg.close(state, command)
        else:
            major = state.classification is not None and state.classification.nature is Nature.major
            if (
                self.rules.require_root_cause_for_major
                and major
                and not (command.root_cause and (command.remediation or command.remediation_actions))
            ):
                raise DomainError(
                    "cannot close a major complaint without its root cause and a remediation action "
                    "(溯源整改)"
                )
        closed = ComplaintClosed(
            complaint_id=cid,
            at=command.at,
            result=command.result,
            customer_satisfied=command.customer_satisfied,
            root_cause=command.root_cause,
            remediation=command.remediation,
            bank_at_fault=command.bank_at_fault,
            cause_code=command.cause_code,
            remediation_actions=list(command.remediation_actions),
        )
        return [closed]

    def _reopen(self, state: Complaint, command: Reopen) -> list[EventData]:
        if state.status is Status.none:
            raise DomainError("cannot reopen: this complaint does not exist")
        if command.source_event_id is not None and command.source_event_id in state.handled_sources:
            raise DomainError("cannot reopen: the case was already reopened for this reason")
        if state.status is not Status.closed:
            raise DomainError("cannot reopen: the case is still open")
        assert state.closed_at is not None and state.complaint_id is not None
        if command.at - state.closed_at > self.rules.reopen_window:
            days = self.rules.reopen_window.days
            raise DomainError(
                f"cannot reopen: the case was closed on {state.closed_at:%Y-%m-%d}, more than {days} days "
                "ago; record a new complaint instead"
            )
        reg = self._reg(state)
        return [
            ComplaintReopened(
                complaint_id=state.complaint_id,
                at=command.at,
                reason=command.reason,
                cycle=state.cycle + 1,
                source_event_id=command.source_event_id,
                regulatory_clocks=reg.starts(state, ClockBasis.reopen, command.at) if reg else [],
            )
        ]

    def _failed_verification(self, state: Complaint, command: HandleFailedVerification) -> list[EventData]:
        if state.status is Status.closed:
            return self._reopen(
                state,
                Reopen(at=command.at, reason=command.finding, source_event_id=command.source_event_id),
            )
        cid = _require_open(state, "record a failed verification")
        if command.source_event_id in state.handled_sources:
            raise DomainError("this failed verification was already recorded")
        if not state.current_solutions(SolutionStatus.implemented):
            raise DomainError("cannot record a failed verification: no solution of this case was implemented")
        return [
            ComplaintCorrectionFailed(
                complaint_id=cid,
                finding=command.finding,
                at=command.at,
                source_event_id=command.source_event_id,
            )
        ]

    def _escalate(self, state: Complaint, cid: UUID, command: Escalate) -> list[EventData]:
        upper = _next_level(state.level)
        if upper is None:
            raise DomainError(
                "cannot escalate: the case is already with the HQ department, the highest level"
            )
        if command.to_level is not None and command.to_level != upper:
            if LEVELS.index(command.to_level) <= LEVELS.index(state.level):
                raise DomainError(
                    f"cannot move the case to {command.to_level.value}: it is with {state.level.value}, "
                    "and a case is never de-escalated"
                )
            raise DomainError(
                f"cannot escalate to {command.to_level.value}: escalation goes one level at a time "
                f"(next is {upper.value})"
            )
        return [
            ComplaintEscalated(
                complaint_id=cid,
                from_level=state.level,
                to_level=upper,
                reason=command.reason,
                automatic=command.automatic,
                at=command.at,
            )
        ]

    def _extend(self, state: Complaint, cid: UUID, command: ExtendRegulatoryDeadline) -> list[EventData]:
        if state.status is Status.answered:
            raise DomainError("cannot extend the regulatory deadline: the customer already has the decision")
        if state.regulatory_extensions >= self.rules.max_regulatory_extensions:
            raise DomainError(
                f"cannot extend the regulatory deadline again: it was already extended to "
                f"{state.regulatory_limit_days} days in this cycle; a further extension needs approval"
            )
        if REGULATORY_SLA in state.breached_slas:
            raise DomainError(
                f"cannot extend the regulatory deadline: the {self.rules.regulatory_limit_days}-day limit "
                "has already passed"
            )
        return [
            RegulatoryDeadlineExtended(
                complaint_id=cid,
                reason=command.reason,
                limit_days=self.rules.regulatory_extended_days,
                extension=state.regulatory_extensions + 1,
                at=command.at,
            )
        ]

    def _breached(self, state: Complaint, cid: UUID, command: RecordSlaBreached) -> list[EventData]:
        facts = command.deadline
        if (facts.deadline_id, facts.sla, "breached") in state.sla_fired:
            raise DomainError(f"{facts.sla} was already recorded as breached")
        events: list[EventData] = [SlaBreached(at=command.at, **_sla_fields(cid, facts))]
        upper = _next_level(state.level)
        if facts.sla == RESOLVE_SLA and self.rules.escalate_on_resolve_breach and upper is not None:
            events.append(
                ComplaintEscalated(
                    complaint_id=cid,
                    from_level=state.level,
                    to_level=upper,
                    automatic=True,
                    causes=[EscalationCause.resolve_breached],
                    at=command.at,
                )
            )
        return events


def _propose_hint(status: Status) -> str:
    if status in {Status.received, Status.reopened, Status.acknowledged, Status.classified}:
        return "start the investigation first"
    if status is Status.solution_accepted:
        return "the customer accepted a solution; implement it"
    return "the solutions stage is over"


def _sla_fields(cid: UUID, facts: SlaFacts) -> dict[str, Any]:
    return {
        "deadline_id": facts.deadline_id,
        "sla": facts.sla,
        "policy": facts.policy,
        "subject_type": "complaint",
        "subject_id": str(cid),
        "started_at": facts.started_at,
        "due_at": facts.due_at,
        "rule": facts.rule[:300],
    }


_VERBS: dict[type, str] = {
    Acknowledge: "acknowledge",
    Classify: "classify",
    StartInvestigation: "start the investigation",
    ProposeSolutions: "propose solutions",
    AcceptSolution: "accept a solution",
    RejectSolution: "reject a solution",
    ImplementSolution: "implement a solution",
    Answer: "answer the customer",
    Close: "close",
    Hold: "put the case on hold",
    Resume: "resume",
    Escalate: "escalate",
    MergeIntoIncident: "merge into an incident",
    RecordCustomerLeft: "record the customer leaving",
    GiveProgressUpdate: "record a progress update",
    ExtendRegulatoryDeadline: "extend the regulatory deadline",
    RecordSlaAtRisk: "record an SLA at risk",
    RecordSlaBreached: "record an SLA breach",
    RecordRepeat: "merge a repeated complaint",
    RecordNewMaterial: "record new material",
    IdentifyStaff: "record the staff the complaint is about",
    AssignHandler: "assign a handler",
    RequestExtension: "request a further extension",
    DecideExtension: "decide on an extension",
    SendInterimResponse: "send an interim response",
    RequestReview: "request a review",
    DecideReview: "decide the review",
}


def _verb(command: object) -> str:
    return _VERBS.get(type(command), type(command).__name__)


# ----------------------------------------------------------------------------------------- evolve


def evolve(state: Complaint, event: EventData) -> Complaint:
    match event:
        case ComplaintReceived():
            return replace(
                state,
                status=Status.received,
                complaint_id=event.complaint_id,
                channel=event.channel,
                customer_ref=event.customer_ref,
                description=event.description,
                visit_id=event.visit_id,
                received_at=event.received_at,
                cycle_started_at=event.received_at,
                source_event_id=event.source_event_id,
                profile=event.regulatory_profile,
                business_type=event.business_type,
                matter_key=event.matter_key,
                about_staff=frozenset(event.about_staff),
                collective=event.collective,
                representatives=tuple(event.representatives),
                calendar=next((c.calendar for c in event.regulatory_clocks), None),
                clocks=state.clocks.start_all(event.regulatory_clocks, None, event.received_at),
            )
        case ComplaintAcknowledged():
            return replace(state, status=Status.acknowledged, acknowledged_at=event.at)
        case ComplaintClassified():
            status = Status.classified if state.status is Status.acknowledged else state.status
            escalating = event.nature is Nature.major or event.urgency is Urgency.urgent
            state = replace(
                state,
                status=status,
                classification=Classification(
                    event.category,
                    event.nature,
                    event.source,
                    event.urgency,
                    event.business_type
                    or (state.classification.business_type if state.classification else None),
                    event.cause_code or (state.classification.cause_code if state.classification else None),
                ),
                classification_escalated=state.classification_escalated or escalating,
                cause_code=event.cause_code or state.cause_code,
                business_type=event.business_type or state.business_type,
            )
            return _start_clocks(state, event.regulatory_clocks, event.at)
        case InvestigationStarted():
            return replace(state, status=Status.investigating)
        case SolutionsProposed():
            added = tuple(
                Solution(
                    s.solution_id,
                    s.description,
                    s.compensation,
                    s.currency,
                    SolutionStatus.proposed,
                    state.cycle,
                )
                for s in event.solutions
            )
            status = Status.solutions_proposed
            return replace(state, status=status, solutions=state.solutions + added)
        case SolutionAccepted():
            state = _set_solution(state, event.solution_id, SolutionStatus.accepted)
            return replace(state, status=Status.solution_accepted)
        case SolutionRejected():
            state = _set_solution(state, event.solution_id, SolutionStatus.rejected)
            if state.current_solutions(SolutionStatus.accepted):
                return replace(state, status=Status.solution_accepted)
            if state.current_solutions(SolutionStatus.proposed):
                return replace(state, status=Status.solutions_proposed)
            return replace(state, status=Status.solutions_rejected)
        case SolutionImplemented():
            state = _set_solution(state, event.solution_id, SolutionStatus.implemented)
            return replace(state, status=Status.implemented, resolved_at=state.resolved_at or event.at)
        case ComplaintCorrectionFailed():
            reverted = tuple(
                replace(s, status=SolutionStatus.accepted)
                if s.cycle == state.cycle and s.status is SolutionStatus.implemented
                else s
                for s in state.solutions
            )
            return replace(
                state,
                solutions=reverted,
                status=Status.solution_accepted,
                resolved_at=None,
                answered_at=None,
                outcome=None,
                handled_sources=_add(state.handled_sources, event.source_event_id),
            )
        case ComplaintAnswered():
            return replace(
                state,
                status=Status.answered,
                answered_at=event.at,
                decision_at=event.at,
                clocks=state.clocks.meet_by("answer", event.at),
                outcome=event.outcome,
                resolved_at=state.resolved_at or event.at,
            )
        case ComplaintClosed():
            return replace(
                state,
                status=Status.closed,
                closed_at=event.at,
                on_hold=False,
                hold_reason=None,
                held_since=None,
                hold_kind=None,
                clocks=state.clocks.cancel_open(event.at, "close"),
                pending_extension=None,
                cause_code=event.cause_code or state.cause_code,
                root_cause_recorded=state.root_cause_recorded
                or bool(event.root_cause and (event.remediation or event.remediation_actions)),
            )
        case ComplaintReopened():
            return replace(
                state,
                status=Status.reopened,
                cycle=event.cycle,
                cycle_started_at=event.at,
                acknowledged_at=None,
                resolved_at=None,
                answered_at=None,
                outcome=None,
                closed_at=None,
                customer_left_at=state.customer_left_at,
                regulatory_extensions=0,
                regulatory_limit_days=None,
                sla_fired=frozenset(),
                breached_slas=frozenset(),
                handled_sources=_add(state.handled_sources, event.source_event_id),
                pending_extension=None,
                clocks=state.clocks.start_all(event.regulatory_clocks, _hold(state), event.at),
            )
        case ComplaintPutOnHold():
            return replace(
                state,
                on_hold=True,
                hold_reason=event.reason,
                held_since=event.at,
                hold_kind=event.kind,
                clocks=state.clocks.hold(event),
            )
        case ComplaintResumed():
            return replace(
                state,
                on_hold=False,
                hold_reason=None,
                held_since=None,
                hold_kind=None,
                clocks=state.clocks.resume(event.at),
            )
        case ComplaintEscalated():
            return replace(state, level=event.to_level, escalations=state.escalations + 1)
        case ComplaintMergedIntoIncident():
            return replace(state, incident_id=event.incident_id)
        case CustomerLeftBranch():
            return replace(state, customer_left_at=event.at)
        case RegulatoryDeadlineExtended():
            # the warnings before the new limit fire again at their new times
            if event.sla != REGULATORY_SLA:
                return replace(
                    state,
                    clocks=state.clocks.extend(event),
                    sla_fired=frozenset(f for f in state.sla_fired if f[1] != event.sla),
                )
            return replace(
                state,
                regulatory_extensions=event.extension,
                regulatory_limit_days=event.limit_days,
                sla_fired=frozenset(f for f in state.sla_fired if f[1] != REGULATORY_SLA),
                clocks=state.clocks.extend(event),
                pending_extension=None,
            )
        case RepeatComplaintMerged():
            state = replace(state, repeats=state.repeats + 1)
            return _start_clocks(state, event.regulatory_clocks, event.at)
        case NewMaterialReceived():
            state = replace(state, new_material=state.new_material + 1)
            return _start_clocks(state, event.regulatory_clocks, event.at)
        case ComplaintStaffIdentified():
            return replace(state, about_staff=state.about_staff | set(event.staff_ids))
        case HandlerAssigned():
            return replace(state, handler=event.handler)
        case ExtensionRequested():
            pending = PendingExtension(
                event.request_id, event.sla, event.requested_by, event.reason, event.limit_days, event.at
            )
            return replace(state, pending_extension=pending)
        case ExtensionApproved() | ExtensionDenied():
            return replace(state, pending_extension=None)
        case InterimResponseSent():
            return replace(
                state,
                interim_responses=(*state.interim_responses, (event.kind, event.at)),
                clocks=state.clocks.meet_by(event.kind.value, event.at),
            )
        case ReviewRequested():
            return replace(
                state,
                status=Status.under_review,
                cycle=event.cycle,
                cycle_started_at=event.at,
                acknowledged_at=None,
                resolved_at=None,
                answered_at=None,
                outcome=None,
                closed_at=None,
                reviewed_decision_at=event.decision_at,
                review_outcome=None,
                sla_fired=frozenset(),
                breached_slas=frozenset(),
                clocks=state.clocks.start_all(event.regulatory_clocks, _hold(state), event.at),
            )
        case ReviewDecided():
            return replace(
                state,
                status=Status.answered,
                answered_at=event.at,
                resolved_at=event.at,
                review_outcome=event.outcome,
                clocks=state.clocks.meet_by("review_decision", event.at),
            )
        case SlaAtRisk():
            fired = (event.deadline_id, event.sla, milestone(event.used_fraction))
            return replace(state, sla_fired=state.sla_fired | {fired})
        case SlaBreached():
            return replace(
                state,
                sla_fired=state.sla_fired | {(event.deadline_id, event.sla, "breached")},
                breached_slas=state.breached_slas | {event.sla},
            )
    return state


def _hold(state: Complaint) -> tuple[HoldKind, TextRef | None] | None:
    if state.on_hold and state.hold_kind is not None:
        return state.hold_kind, state.hold_reason
    return None


def _hold_kind(state: Complaint) -> str:
    return (state.hold_kind or HoldKind.waiting_on_customer).value.replace("_", " ")


def _start_clocks(state: Complaint, starts: Sequence[ClockStart], at: datetime) -> Complaint:
    """(Re)start regulatory clocks; a restarted decision clock starts over without extensions."""
    if not starts:
        return state
    slas = {s.sla for s in starts}
    state = replace(
        state,
        clocks=state.clocks.start_all(starts, _hold(state), at),
        calendar=state.calendar or starts[0].calendar,
        breached_slas=state.breached_slas - slas,
    )
    if REGULATORY_SLA in slas:
        state = replace(state, regulatory_extensions=0, regulatory_limit_days=None, pending_extension=None)
    return state


def milestone(used_fraction: float) -> str:
    """The scheduler's name of an at-risk milestone, e.g. ``at_risk:0.8``."""
    return f"at_risk:{used_fraction:g}"


def _set_solution(state: Complaint, solution_id: UUID, status: SolutionStatus) -> Complaint:
    solutions = tuple(
        replace(s, status=status) if s.solution_id == solution_id else s for s in state.solutions
    )
    return replace(state, solutions=solutions)


def _add(ids: frozenset[UUID], new: UUID | None) -> frozenset[UUID]:
    return ids if new is None else ids | {new}


def make_decider(
    rules: ComplaintRules = DEFAULT_RULES, regulation: Regulation | None = None
) -> Decider[Command, Complaint]:
    """The decider; with ``regulation``, cases received with a profile follow its rules."""
    return Decider(Complaint(), ComplaintDecider(rules, regulation).decide, evolve)


complaint_decider: Decider[Command, Complaint] = make_decider()


def stream_id(complaint_id: UUID) -> str:
    return f"complaint-{complaint_id}"


__all__ = [
    "DEFAULT_RULES",
    "LEVELS",
    "OPEN_STATUSES",
    "REGULATORY_SLA",
    "RESOLVE_SLA",
    "AcceptSolution",
    "Acknowledge",
    "Answer",
    "AssignHandler",
    "Classification",
    "Classify",
    "Close",
    "Command",
    "Complaint",
    "ComplaintDecider",
    "ComplaintRules",
    "DecideExtension",
    "DecideReview",
    "Escalate",
    "ExtendRegulatoryDeadline",
    "GiveProgressUpdate",
    "HandleFailedVerification",
    "Hold",
    "IdentifyStaff",
    "ImplementSolution",
    "MergeIntoIncident",
    "PendingExtension",
    "ProposeSolutions",
    "ReceiveComplaint",
    "RecordCustomerLeft",
    "RecordNewMaterial",
    "RecordRepeat",
    "RecordSlaAtRisk",
    "RecordSlaBreached",
    "Regulation",
    "RejectSolution",
    "Reopen",
    "RequestExtension",
    "RequestReview",
    "Resume",
    "SendInterimResponse",
    "SlaFacts",
    "Solution",
    "SolutionStatus",
    "StartInvestigation",
    "Status",
    "complaint_decider",
    "evolve",
    "make_decider",
    "milestone",
    "stream_id",
]
