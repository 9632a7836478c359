"""How the lifecycle's events change a case: received to closed, reopened, held, escalated."""

from __future__ import annotations

from services.complaint.decider.folding import add_source, answered, new_cycle, on, set_solution, start_clocks
from services.complaint.regclocks import Clocks
from services.complaint.state import (
    Complaint,
    Solution,
    SolutionStatus,
    Status,
)
from shared.by_name import replace
from shared.contracts import complaint as ev

#: what the case keeps of its receipt under the receipt's own names
_KEPT_AT_RECEIPT = tuple(
    "complaint_id channel customer_ref description visit_id received_at "
    "source_event_id business_type matter_key collective".split()
)


@on(ev.ComplaintReceived)
def _complaint_received(state: Complaint, event: ev.ComplaintReceived) -> Complaint:
    kept = {name: getattr(event, name) for name in _KEPT_AT_RECEIPT}
    return replace(
        state,
        status=Status.received,
        **kept,
        cycle_started_at=event.received_at,
        profile=event.regulatory_profile,
        about_staff=frozenset(event.about_staff),
        representatives=tuple(event.representatives),
        calendar=next((c.calendar for c in event.regulatory_clocks), None),
        clocks=state.clocks.start_all(event.regulatory_clocks, None, event.received_at),
    )


@on(ev.ComplaintAcknowledged)
def _complaint_acknowledged(state: Complaint, event: ev.ComplaintAcknowledged) -> Complaint:
    return replace(state, status=Status.acknowledged, acknowledged_at=event.at)


@on(ev.ComplaintClassified)
def _complaint_classified(state: Complaint, event: ev.ComplaintClassified) -> Complaint:
    status = Status.classified if state.status is Status.acknowledged else state.status
    escalating = event.nature is ev.Nature.major or event.urgency is ev.Urgency.urgent
    earlier = state.classification  # a reclassification without codes keeps the earlier ones
    codes = {
        "business_type": event.business_type or (earlier.business_type if earlier else None),
        "cause_code": event.cause_code or (earlier.cause_code if earlier else None),
    }
    state = replace(
        state,
        status=status,
        classification=event.model_copy(update=codes),
        classification_escalated=state.classification_escalated or escalating,
        cause_code=event.cause_code or state.cause_code,
        business_type=event.business_type or state.business_type,
    )
    return start_clocks(state, event.regulatory_clocks, event.at)


@on(ev.InvestigationStarted)
def _investigation_started(state: Complaint, event: ev.InvestigationStarted) -> Complaint:
    return replace(state, status=Status.investigating)


@on(ev.SolutionsProposed)
def _solutions_proposed(state: Complaint, event: ev.SolutionsProposed) -> Complaint:
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


@on(ev.SolutionAccepted)
def _solution_accepted(state: Complaint, event: ev.SolutionAccepted) -> Complaint:
    state = set_solution(state, event.solution_id, SolutionStatus.accepted)
    return replace(state, status=Status.solution_accepted)


@on(ev.SolutionRejected)
def _solution_rejected(state: Complaint, event: ev.SolutionRejected) -> Complaint:
    state = set_solution(state, event.solution_id, SolutionStatus.rejected)
    if state.current_solutions(SolutionStatus.accepted):
        return replace(state, status=Status.solution_accepted)
    if state.current_solutions(SolutionStatus.proposed):
        return replace(state, status=Status.solutions_proposed)
    return replace(state, status=Status.solutions_rejected)


@on(ev.SolutionImplemented)
def _solution_implemented(state: Complaint, event: ev.SolutionImplemented) -> Complaint:
    state = set_solution(state, event.solution_id, SolutionStatus.implemented)
    return replace(state, status=Status.implemented, resolved_at=state.resolved_at or event.at)


@on(ev.ComplaintCorrectionFailed)
def _complaint_correction_failed(state: Complaint, event: ev.ComplaintCorrectionFailed) -> Complaint:
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
        handled_sources=add_source(state.handled_sources, event.source_event_id),
    )


@on(ev.ComplaintAnswered)
def _complaint_answered(state: Complaint, event: ev.ComplaintAnswered) -> Complaint:
    resolved_at = state.resolved_at or event.at
    return answered(
        state, event.at, "answer", decision_at=event.at, outcome=event.outcome, resolved_at=resolved_at
    )


@on(ev.ComplaintClosed)
def _complaint_closed(state: Complaint, event: ev.ComplaintClosed) -> Complaint:
    return replace(
        released(state, state.clocks.cancel_open(event.at, "close")),
        status=Status.closed,
        closed_at=event.at,
        pending_extension=None,
        cause_code=event.cause_code or state.cause_code,
        root_cause_recorded=state.root_cause_recorded
        or bool(event.root_cause and (event.remediation or event.remediation_actions)),
    )


@on(ev.ComplaintReopened)
def _complaint_reopened(state: Complaint, event: ev.ComplaintReopened) -> Complaint:
    return replace(
        new_cycle(state, event.cycle, event.at, event.regulatory_clocks),
        status=Status.reopened,
        regulatory_extensions=0,
        regulatory_limit_days=None,
        handled_sources=add_source(state.handled_sources, event.source_event_id),
        pending_extension=None,
    )


@on(ev.ComplaintPutOnHold)
def _complaint_put_onhold_of(state: Complaint, event: ev.ComplaintPutOnHold) -> Complaint:
    return replace(state, hold=event, clocks=state.clocks.hold(event))


@on(ev.ComplaintResumed)
def _complaint_resumed(state: Complaint, event: ev.ComplaintResumed) -> Complaint:
    return released(state, state.clocks.resume(event.at))


def released(state: Complaint, clocks: Clocks) -> Complaint:
    """The case off hold (resumed or closed), with its clocks as they run on."""
    return replace(state, hold=None, clocks=clocks)


@on(ev.ComplaintEscalated)
def _complaint_escalated(state: Complaint, event: ev.ComplaintEscalated) -> Complaint:
    return replace(state, level=event.to_level, escalations=state.escalations + 1)


@on(ev.ComplaintMergedIntoIncident)
def _complaint_merged_into_incident(state: Complaint, event: ev.ComplaintMergedIntoIncident) -> Complaint:
    return replace(state, incident_id=event.incident_id)


@on(ev.CustomerLeftBranch)
def _customer_left_branch(state: Complaint, event: ev.CustomerLeftBranch) -> Complaint:
    return replace(state, customer_left_at=event.at)
