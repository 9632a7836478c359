"""Events of the follow-up context (``followup.events.v1``).

The events other contexts react to are defined here; the follow-up service adds its internal
task lifecycle events to this module too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, Note, StaffId
from shared.registry import EventData, event


class TaskKind(StrEnum):
    progress_update = "progress_update"
    verification = "verification"
    callback = "callback"
    service_recovery = "service_recovery"
    remediation = "remediation"
    inform_complainant = "inform_complainant"
    #: a warning before a regulatory limit (e.g. day 10 of 15): the branch head decides or extends
    regulatory_milestone = "regulatory_milestone"


@event("FollowUpScheduled")
class FollowUpScheduled(EventData):
    task_id: UUID
    kind: TaskKind
    owner: StaffId | None = None
    due_at: datetime
    reason: Note
    #: what caused it: e.g. ``complaint:<id>``, ``visit:<id>``, ``survey:<id>``
    subject: str
    cause_event_id: UUID | None = None
    #: whom to contact (pseudonymous; the phone number is looked up at call time, never here)
    customer_ref: CustomerRef | None = None
    #: when the task was created (``due_at`` minus this is the time the SLA clock allows)
    scheduled_at: datetime | None = None
    #: the previous task of a chain (progress updates: each one schedules its successor)
    previous_task_id: UUID | None = None
    #: regulatory milestone tasks: the regulatory deadline (SLA name) they warn about
    regulatory_sla: str | None = Field(default=None, pattern=r"^[a-z0-9_.\-]{1,64}$")


@event("FollowUpContacted")
class FollowUpContacted(EventData):
    """One attempt to reach the customer, reached or not, with what was said or tried."""

    task_id: UUID
    reached: bool
    note: Note = ""
    attempt: int = Field(ge=1)
    at: datetime


@event("FollowUpReassigned")
class FollowUpReassigned(EventData):
    task_id: UUID
    from_owner: StaffId | None = None
    to_owner: StaffId
    reason: Note = ""
    at: datetime


@event("FollowUpCompleted")
class FollowUpCompleted(EventData):
    task_id: UUID
    kind: TaskKind
    at: datetime
    note: Note = ""
    #: verification tasks only: whether the correction really happened
    verified: bool | None = None


@event("FollowUpCancelled")
class FollowUpCancelled(EventData):
    task_id: UUID
    kind: TaskKind
    reason: Note
    #: cancelled by a rule (e.g. the complaint closed), not by a member of staff
    automatic: bool = False
    at: datetime


@event("VerificationFailed")
class VerificationFailed(EventData):
    """跟踪核查 found the correction did not happen: the complaint service reopens the case."""

    task_id: UUID
    complaint_id: UUID
    at: datetime
    finding: Note
