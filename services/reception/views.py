"""What reception's routes answer: a visit's and a call's state as staff see it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from services.reception import domain as v
from services.reception import phone as p
from shared.commands import CommandResult
from shared.texts import TextView


class VisitCreated(BaseModel):
    visit_id: UUID
    ticket: str | None
    status: str
    line: str | None
    version: int


class VisitView(BaseModel):
    visit_id: UUID
    branch_id: str
    status: str
    version: int
    arrival: str | None
    returning: bool
    customer_ref: str | None
    display_name: str | None
    relationship_manager: str | None
    priority: str | None
    accessibility: list[str]
    service_type: str | None
    line: str | None
    required_materials: list[str]
    missing: list[str]
    document_checks: int
    ticket: str | None
    queued_at: datetime | None
    calls: int
    counter_id: str | None
    staff_id: str | None
    waited_seconds: float | None
    served_at: datetime | None
    left_reason: str | None
    wait_sla: str | None
    complaints: int
    #: the notes of the confirmed need (reception's text; shown to staff of the branch)
    need_notes: TextView | None = None


class CallCreated(BaseModel):
    call_id: UUID
    status: str
    version: int


class CallView(BaseModel):
    call_id: UUID
    branch_id: str
    status: str
    version: int
    received_at: datetime | None
    answered_at: datetime | None
    rings: int | None
    seconds_to_answer: float | None
    within_target: bool | None
    purpose: str | None
    routed_to: str | None
    outcome: str | None
    answer_sla: str | None


def visit_view(
    visit_id: UUID, branch_id: str, state: v.Visit, version: int, need_notes: TextView | None = None
) -> VisitView:
    return VisitView(
        visit_id=visit_id,
        branch_id=branch_id,
        status=state.status.value,
        version=version,
        arrival=state.arrival,
        returning=state.returning,
        customer_ref=state.customer_ref,
        display_name=state.display_name,
        relationship_manager=state.relationship_manager,
        priority=state.priority,
        accessibility=[a.value for a in state.accessibility],
        service_type=state.service_type,
        line=state.line,
        required_materials=list(state.required_materials),
        missing=list(state.missing),
        document_checks=state.document_checks,
        ticket=state.ticket,
        queued_at=state.queued_at,
        calls=state.calls,
        counter_id=state.counter_id,
        staff_id=state.staff_id,
        waited_seconds=state.waited_seconds,
        served_at=state.served_at,
        left_reason=state.left_reason,
        wait_sla=state.sla_status,
        complaints=state.complaints,
        need_notes=need_notes,
    )


def visit_result(visit_id: UUID, result: CommandResult[v.Visit]) -> VisitView:
    """The visit after a command (its branch from the events the command recorded)."""
    branch = result.events[0].branch_id if result.events else ""
    return visit_view(visit_id, branch, result.state, result.version)


def call_result(call_id: UUID, result: CommandResult[p.PhoneCall]) -> CallView:
    """The call after a command, as :func:`visit_result`."""
    branch = result.events[0].branch_id if result.events else ""
    return call_view(call_id, branch, result.state, result.version)


def call_view(call_id: UUID, branch_id: str, state: p.PhoneCall, version: int) -> CallView:
    return CallView(
        call_id=call_id,
        branch_id=branch_id,
        status=state.status.value,
        version=version,
        received_at=state.received_at,
        answered_at=state.answered_at,
        rings=state.rings,
        seconds_to_answer=state.seconds_to_answer,
        within_target=state.within_target,
        purpose=state.purpose,
        routed_to=state.routed_to,
        outcome=state.outcome,
        answer_sla=state.sla_status,
    )
