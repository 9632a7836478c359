"""How the events of deadlines and regulatory profiles change a case: extensions, repeats, new
material, staff, interim responses, reviews, SLA milestones."""

from __future__ import annotations

from services.complaint.decider.deadlines import milestone
from services.complaint.decider.folding import answered, new_cycle, on, start_clocks
from services.complaint.state import (
    REGULATORY_SLA,
    Complaint,
    Status,
)
from shared.by_name import replace
from shared.contracts import complaint as ev
from shared.contracts.sla import SlaAtRisk, SlaBreached


@on(ev.RegulatoryDeadlineExtended)
def _regulatory_deadline_extended(state: Complaint, event: ev.RegulatoryDeadlineExtended) -> Complaint:
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


@on(ev.RepeatComplaintMerged)
def _repeat_complaint_merged(state: Complaint, event: ev.RepeatComplaintMerged) -> Complaint:
    state = replace(state, repeats=state.repeats + 1)
    return start_clocks(state, event.regulatory_clocks, event.at)


@on(ev.NewMaterialReceived)
def _new_material_received(state: Complaint, event: ev.NewMaterialReceived) -> Complaint:
    state = replace(state, new_material=state.new_material + 1)
    return start_clocks(state, event.regulatory_clocks, event.at)


@on(ev.ComplaintStaffIdentified)
def _complaint_staff_identified(state: Complaint, event: ev.ComplaintStaffIdentified) -> Complaint:
    return replace(state, about_staff=state.about_staff | set(event.staff_ids))


@on(ev.HandlerAssigned)
def _handler_assigned(state: Complaint, event: ev.HandlerAssigned) -> Complaint:
    return replace(state, handler=event.handler)


@on(ev.ExtensionRequested)
def _extension_requested(state: Complaint, event: ev.ExtensionRequested) -> Complaint:
    return replace(state, pending_extension=event)


@on(ev.ExtensionApproved, ev.ExtensionDenied)
def _extension_decided(state: Complaint, event: ev.ExtensionApproved | ev.ExtensionDenied) -> Complaint:
    return replace(state, pending_extension=None)


@on(ev.InterimResponseSent)
def _interim_response_sent(state: Complaint, event: ev.InterimResponseSent) -> Complaint:
    return replace(
        state,
        interim_responses=(*state.interim_responses, (event.kind, event.at)),
        clocks=state.clocks.meet_by(event.kind.value, event.at),
    )


@on(ev.ReviewRequested)
def _review_requested(state: Complaint, event: ev.ReviewRequested) -> Complaint:
    return replace(
        new_cycle(state, event.cycle, event.at, event.regulatory_clocks),
        status=Status.under_review,
        reviewed_decision_at=event.decision_at,
        review_outcome=None,
    )


@on(ev.ReviewDecided)
def _review_decided(state: Complaint, event: ev.ReviewDecided) -> Complaint:
    return answered(state, event.at, "review_decision", resolved_at=event.at, review_outcome=event.outcome)


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
