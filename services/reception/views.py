"""What reception's routes answer: a visit's and a call's state as staff see it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from services.reception import decider as v
from services.reception import phone as p
from shared.by_name import record
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
    """The visit's fields by name (``shared.by_name``), and what the view names otherwise."""
    shown = {"status": state.status.value, "wait_sla": state.sla_status, "need_notes": need_notes}
    accessibility = [a.value for a in state.accessibility]
    return record(
        VisitView,
        shown,
        state,
        visit_id=visit_id,
        branch_id=branch_id,
        version=version,
        accessibility=accessibility,
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
    """The call's fields by name, as :func:`visit_view`."""
    shown = {"status": state.status.value, "answer_sla": state.sla_status}
    return record(CallView, shown, state, call_id=call_id, branch_id=branch_id, version=version)
