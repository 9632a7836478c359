"""Events of the follow-up context (``followup.events.v1``).

The events other contexts react to are defined here; the follow-up service adds its internal
task lifecycle events to this module too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts.common import Note, StaffId
from shared.registry import EventData, event


class TaskKind(StrEnum):
    progress_update = "progress_update"
    verification = "verification"
    callback = "callback"
    service_recovery = "service_recovery"
    remediation = "remediation"
    inform_complainant = "inform_complainant"


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


@event("FollowUpCompleted")
class FollowUpCompleted(EventData):
    task_id: UUID
    kind: TaskKind
    at: datetime
    note: Note = ""


@event("VerificationFailed")
class VerificationFailed(EventData):
    """跟踪核查 found the correction did not happen: the complaint service reopens the case."""

    task_id: UUID
    complaint_id: UUID
    at: datetime
    finding: Note
