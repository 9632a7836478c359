"""How each event changes a complaint case: one small function per event type.

``evolve`` looks the function up by the event's type (:data:`EVOLVE`); an event no function is
registered for changes nothing. Replaying a case's events through it gives its state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from services.complaint.decider.deadlines import milestone
from services.complaint.state import (
    REGULATORY_SLA,
    Classification,
    Complaint,
    PendingExtension,
    Solution,
    SolutionStatus,
    Status,
)
from shared.contracts.complaint import (
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
    ExtensionApproved,
    ExtensionDenied,
    ExtensionRequested,
    HandlerAssigned,
    HoldKind,
    InterimResponseSent,
    InvestigationStarted,
    Nature,
    NewMaterialReceived,
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
from shared.registry import EventData

Apply = TypeVar("Apply", bound=Callable[..., Complaint])
EVOLVE: dict[type, Callable[[Complaint, Any], Complaint]] = {}


def on(*event_types: type) -> Callable[[Apply], Apply]:
    """Register the function that applies these event types to a case."""

    def register(apply: Apply) -> Apply:
        for event_type in event_types:
            EVOLVE[event_type] = apply
        return apply

    return register


def evolve(state: Complaint, event: EventData) -> Complaint:
    apply = EVOLVE.get(type(event))
    return state if apply is None else apply(state, event)


@on(ComplaintReceived)
def _complaint_received(state: Complaint, event: ComplaintReceived) -> Complaint:
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


@on(ComplaintAcknowledged)
def _complaint_acknowledged(state: Complaint, event: ComplaintAcknowledged) -> Complaint:
    return replace(state, status=Status.acknowledged, acknowledged_at=event.at)


@on(ComplaintClassified)
def _complaint_classified(state: Complaint, event: ComplaintClassified) -> Complaint:
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
            event.business_type or (state.classification.business_type if state.classification else None),
            event.cause_code or (state.classification.cause_code if state.classification else None),
        ),
        classification_escalated=state.classification_escalated or escalating,
        cause_code=event.cause_code or state.cause_code,
        business_type=event.business_type or state.business_type,
    )
    return _start_clocks(state, event.regulatory_clocks, event.at)


@on(InvestigationStarted)
def _investigation_started(state: Complaint, event: InvestigationStarted) -> Complaint:
    return replace(state, status=Status.investigating)


@on(SolutionsProposed)
def _solutions_proposed(state: Complaint, event: SolutionsProposed) -> Complaint:
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


@on(SolutionAccepted)
def _solution_accepted(state: Complaint, event: SolutionAccepted) -> Complaint:
    state = _set_solution(state, event.solution_id, SolutionStatus.accepted)
    return replace(state, status=Status.solution_accepted)


@on(SolutionRejected)
def _solution_rejected(state: Complaint, event: SolutionRejected) -> Complaint:
    state = _set_solution(state, event.solution_id, SolutionStatus.rejected)
    if state.current_solutions(SolutionStatus.accepted):
        return replace(state, status=Status.solution_accepted)
    if state.current_solutions(SolutionStatus.proposed):
        return replace(state, status=Status.solutions_proposed)
    return replace(state, status=Status.solutions_rejected)


@on(SolutionImplemented)
def _solution_implemented(state: Complaint, event: SolutionImplemented) -> Complaint:
    state = _set_solution(state, event.solution_id, SolutionStatus.implemented)
    return replace(state, status=Status.implemented, resolved_at=state.resolved_at or event.at)


@on(ComplaintCorrectionFailed)
def _complaint_correction_failed(state: Complaint, event: ComplaintCorrectionFailed) -> Complaint:
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


@on(ComplaintAnswered)
def _complaint_answered(state: Complaint, event: ComplaintAnswered) -> Complaint:
    return replace(
        state,
        status=Status.answered,
        answered_at=event.at,
        decision_at=event.at,
        clocks=state.clocks.meet_by("answer", event.at),
        outcome=event.outcome,
        resolved_at=state.resolved_at or event.at,
    )


@on(ComplaintClosed)
def _complaint_closed(state: Complaint, event: ComplaintClosed) -> Complaint:
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


@on(ComplaintReopened)
def _complaint_reopened(state: Complaint, event: ComplaintReopened) -> Complaint:
    return replace(
        _new_cycle(state, event.cycle, event.at, event.regulatory_clocks),
        status=Status.reopened,
        regulatory_extensions=0,
        regulatory_limit_days=None,
        handled_sources=_add(state.handled_sources, event.source_event_id),
        pending_extension=None,
    )


@on(ComplaintPutOnHold)
def _complaint_put_on_hold(state: Complaint, event: ComplaintPutOnHold) -> Complaint:
    return replace(
        state,
        on_hold=True,
        hold_reason=event.reason,
        held_since=event.at,
        hold_kind=event.kind,
        clocks=state.clocks.hold(event),
    )


@on(ComplaintResumed)
def _complaint_resumed(state: Complaint, event: ComplaintResumed) -> Complaint:
    return replace(
        state,
        on_hold=False,
        hold_reason=None,
        held_since=None,
        hold_kind=None,
        clocks=state.clocks.resume(event.at),
    )


@on(ComplaintEscalated)
def _complaint_escalated(state: Complaint, event: ComplaintEscalated) -> Complaint:
    return replace(state, level=event.to_level, escalations=state.escalations + 1)


@on(ComplaintMergedIntoIncident)
def _complaint_merged_into_incident(state: Complaint, event: ComplaintMergedIntoIncident) -> Complaint:
    return replace(state, incident_id=event.incident_id)


@on(CustomerLeftBranch)
def _customer_left_branch(state: Complaint, event: CustomerLeftBranch) -> Complaint:
    return replace(state, customer_left_at=event.at)


@on(RegulatoryDeadlineExtended)
def _regulatory_deadline_extended(state: Complaint, event: RegulatoryDeadlineExtended) -> Complaint:
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


@on(RepeatComplaintMerged)
def _repeat_complaint_merged(state: Complaint, event: RepeatComplaintMerged) -> Complaint:
    state = replace(state, repeats=state.repeats + 1)
    return _start_clocks(state, event.regulatory_clocks, event.at)


@on(NewMaterialReceived)
def _new_material_received(state: Complaint, event: NewMaterialReceived) -> Complaint:
    state = replace(state, new_material=state.new_material + 1)
    return _start_clocks(state, event.regulatory_clocks, event.at)


@on(ComplaintStaffIdentified)
def _complaint_staff_identified(state: Complaint, event: ComplaintStaffIdentified) -> Complaint:
    return replace(state, about_staff=state.about_staff | set(event.staff_ids))


@on(HandlerAssigned)
def _handler_assigned(state: Complaint, event: HandlerAssigned) -> Complaint:
    return replace(state, handler=event.handler)


@on(ExtensionRequested)
def _extension_requested(state: Complaint, event: ExtensionRequested) -> Complaint:
    pending = PendingExtension(
        event.request_id, event.sla, event.requested_by, event.reason, event.limit_days, event.at
    )
    return replace(state, pending_extension=pending)


@on(ExtensionApproved, ExtensionDenied)
def _extension_decided(state: Complaint, event: ExtensionApproved | ExtensionDenied) -> Complaint:
    return replace(state, pending_extension=None)


@on(InterimResponseSent)
def _interim_response_sent(state: Complaint, event: InterimResponseSent) -> Complaint:
    return replace(
        state,
        interim_responses=(*state.interim_responses, (event.kind, event.at)),
        clocks=state.clocks.meet_by(event.kind.value, event.at),
    )


@on(ReviewRequested)
def _review_requested(state: Complaint, event: ReviewRequested) -> Complaint:
    return replace(
        _new_cycle(state, event.cycle, event.at, event.regulatory_clocks),
        status=Status.under_review,
        reviewed_decision_at=event.decision_at,
        review_outcome=None,
    )


@on(ReviewDecided)
def _review_decided(state: Complaint, event: ReviewDecided) -> Complaint:
    return replace(
        state,
        status=Status.answered,
        answered_at=event.at,
        resolved_at=event.at,
        review_outcome=event.outcome,
        clocks=state.clocks.meet_by("review_decision", event.at),
    )


@on(SlaAtRisk)
def _sla_at_risk(state: Complaint, event: SlaAtRisk) -> Complaint:
    fired = (event.deadline_id, event.sla, milestone(event.used_fraction))
    return replace(state, sla_fired=state.sla_fired | {fired})


@on(SlaBreached)
def _sla_breached(state: Complaint, event: SlaBreached) -> Complaint:
    return replace(
        state,
        sla_fired=state.sla_fired | {(event.deadline_id, event.sla, "breached")},
        breached_slas=state.breached_slas | {event.sla},
    )


# --------------------------------------------------------------------------------- helpers


def _new_cycle(state: Complaint, cycle: int, at: datetime, starts: Sequence[ClockStart]) -> Complaint:
    """A reopen or a review starts a new cycle: its own acknowledgement, answer and clocks."""
    return replace(
        state,
        cycle=cycle,
        cycle_started_at=at,
        acknowledged_at=None,
        resolved_at=None,
        answered_at=None,
        outcome=None,
        closed_at=None,
        sla_fired=frozenset(),
        breached_slas=frozenset(),
        clocks=state.clocks.start_all(starts, _hold(state), at),
    )


def _hold(state: Complaint) -> tuple[HoldKind, TextRef | None] | None:
    if state.on_hold and state.hold_kind is not None:
        return state.hold_kind, state.hold_reason
    return None


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


def _set_solution(state: Complaint, solution_id: UUID, status: SolutionStatus) -> Complaint:
    solutions = tuple(
        replace(s, status=status) if s.solution_id == solution_id else s for s in state.solutions
    )
    return replace(state, solutions=solutions)


def _add(ids: frozenset[UUID], new: UUID | None) -> frozenset[UUID]:
    return ids if new is None else ids | {new}
