"""Intake: a complaint received, reopened, repeated, given new material; who it is about and who
handles it; the customer leaving; incidents."""

from __future__ import annotations

from services.complaint.commands import (
    AssignHandler,
    HandleFailedVerification,
    IdentifyStaff,
    MergeIntoIncident,
    ReceiveComplaint,
    RecordCustomerLeft,
    RecordNewMaterial,
    RecordRepeat,
    Reopen,
)
from services.complaint.decider.case import Deciding, require_open
from services.complaint.state import SolutionStatus, Status
from shared.contracts.complaint import (
    Channel,
    ClockBasis,
    ComplaintCorrectionFailed,
    ComplaintMergedIntoIncident,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintStaffIdentified,
    CustomerLeftBranch,
    HandlerAssigned,
    NewMaterialReceived,
    RepeatComplaintMerged,
)
from shared.decider import DomainError
from shared.registry import EventData


def receive(case: Deciding, command: ReceiveComplaint) -> list[EventData]:
    if case.state.status is not Status.none:
        raise DomainError(f"complaint {command.complaint_id} was already received")
    profile, reg = None, case.service_reg
    if case.regulation is not None and command.profile is not None:
        profile = case.regulation.profile(command.profile)
        assert reg is not None
        reg.check_receipt(profile, len(command.representatives), command.business_type)
    received = case.record(
        ComplaintReceived,
        command,
        regulatory_profile=profile.name if profile else None,
        about_staff=list(dict.fromkeys(command.about_staff)),
        collective=command.collective or bool(command.representatives),
        representatives=list(dict.fromkeys(command.representatives)),
        regulatory_clocks=[
            reg.start_clock(profile, spec, ClockBasis.receipt, command.received_at, command.calendar)
            for spec in profile.clocks_for(ClockBasis.receipt, command.business_type)
        ]
        if profile is not None and reg is not None
        else [],
    )
    events: list[EventData] = [received]
    if command.customer_left_at is not None and command.channel is Channel.in_branch:
        left = max(command.customer_left_at, command.received_at)
        events.append(
            CustomerLeftBranch(complaint_id=command.complaint_id, visit_id=command.visit_id, at=left)
        )
    return events


def reopen(case: Deciding, command: Reopen) -> list[EventData]:
    state, window = case.state, case.rules.reopen_window
    if state.status is Status.none:
        raise DomainError("cannot reopen: this complaint does not exist")
    if command.source_event_id is not None and command.source_event_id in state.handled_sources:
        raise DomainError("cannot reopen: the case was already reopened for this reason")
    if state.status is not Status.closed:
        raise DomainError("cannot reopen: the case is still open")
    assert state.closed_at is not None
    if command.at - state.closed_at > window:
        raise DomainError(
            f"cannot reopen: the case was closed on {state.closed_at:%Y-%m-%d}, more than {window.days} days "
            "ago; record a new complaint instead"
        )
    reg = case.reg
    clocks = reg.starts(state, ClockBasis.reopen, command.at) if reg else []
    return [case.record(ComplaintReopened, command, cycle=state.cycle + 1, regulatory_clocks=clocks)]


def failed_verification(case: Deciding, command: HandleFailedVerification) -> list[EventData]:
    """Follow-up's 跟踪核查 failed: reopen a closed case, or undo the implementation of an open one."""
    state = case.state
    if state.status is Status.closed:
        return reopen(
            case, Reopen(at=command.at, reason=command.finding, source_event_id=command.source_event_id)
        )
    require_open(state, command.verb)
    if command.source_event_id in state.handled_sources:
        raise DomainError("this failed verification was already recorded")
    if not state.current_solutions(SolutionStatus.implemented):
        raise DomainError("cannot record a failed verification: no solution of this case was implemented")
    return [case.record(ComplaintCorrectionFailed, command)]


def repeat(case: Deciding, command: RecordRepeat) -> list[EventData]:
    reg = case.reg
    return [case.record(RepeatComplaintMerged, command, **(reg.repeat(case.state, command) if reg else {}))]


def new_material(case: Deciding, command: RecordNewMaterial) -> list[EventData]:
    reg = case.reg
    clocks = reg.new_material(case.state, command) if reg else {"restarts_clock": False}
    return [NewMaterialReceived(complaint_id=case.cid, at=command.at, summary=command.summary, **clocks)]


def identify_staff(case: Deciding, command: IdentifyStaff) -> list[EventData]:
    state = case.state
    new = [s for s in dict.fromkeys(command.staff_ids) if s not in state.about_staff]
    if not new:
        raise DomainError("these members of staff were already recorded as the ones the complaint is about")
    if state.handler in new:
        raise DomainError(
            f"cannot record that the complaint is about {state.handler}: {state.handler} handles the "
            "case; assign another handler first (recusal)"
        )
    return [ComplaintStaffIdentified(complaint_id=case.cid, staff_ids=new, at=command.at)]


def assign_handler(case: Deciding, command: AssignHandler) -> list[EventData]:
    state, regulation = case.state, case.regulation
    recusal = regulation is None or state.profile is None or regulation.profile(state.profile).recusal
    if recusal and command.handler in state.about_staff:
        raise DomainError(
            f"cannot assign {command.handler}: the complaint is about this member of staff, who must not "
            "handle it (recusal); assign someone else"
        )
    if command.handler == state.handler:
        raise DomainError(f"{command.handler} already handles this case")
    return [
        HandlerAssigned(complaint_id=case.cid, handler=command.handler, previous=state.handler, at=command.at)
    ]


def may_record_customer_left(case: Deciding, command: RecordCustomerLeft) -> None:
    if case.state.customer_left_at is not None:
        raise DomainError("the customer's departure was already recorded")
    if case.state.channel is not Channel.in_branch:
        raise DomainError("only an in-branch complaint records the customer leaving the branch")


def customer_left(case: Deciding, command: RecordCustomerLeft) -> list[EventData]:
    may_record_customer_left(case, command)
    return [CustomerLeftBranch(complaint_id=case.cid, visit_id=command.visit_id, at=command.at)]


def may_merge(case: Deciding, command: MergeIntoIncident) -> None:
    incident = case.state.incident_id
    if incident == command.incident_id:
        raise DomainError("cannot merge: the case is already part of this incident")
    if incident is not None:
        raise DomainError(f"cannot merge: the case is already part of incident {incident}")


def merge(case: Deciding, command: MergeIntoIncident) -> list[EventData]:
    may_merge(case, command)
    return [
        ComplaintMergedIntoIncident(
            complaint_id=case.cid, incident_id=command.incident_id, cause=command.cause, at=command.at
        )
    ]
