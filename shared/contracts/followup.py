"""Events of the follow-up context (``followup.events.v1``).

The events other contexts react to are defined here; the follow-up service adds its internal
task lifecycle events to this module too.

Staff's notes and reasons stay in follow-up's private store (events carry a
:class:`~shared.contracts.text.TextRef`, schema v2). A task's ``reason`` is system text written by
the rules from codes and times; the texts it is about (a remediation action, a survey comment, a
visit's next steps) travel as the other contexts' refs in ``about``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, StaffId, SystemText
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import EventData, event

#: - ``regulatory_milestone``: a warning before a regulatory limit (e.g. day 10 of 15): the branch
#:   head decides or extends
TaskKind = StrEnum(
    "TaskKind",
    "progress_update verification callback service_recovery remediation inform_complainant "
    "regulatory_milestone",
)


class OnTask(EventData):
    # what every event of a follow-up task says first (a base's fields come first)
    task_id: UUID


class _OnTaskOfKind(OnTask):
    # what scheduling, completing, cancelling, pausing and resuming a task say next: its kind
    kind: TaskKind


@event("FollowUpScheduled", version=2)
class FollowUpScheduled(_OnTaskOfKind):
    owner: StaffId | None = None
    due_at: datetime
    #: written by the rule that made the task (no staff words)
    reason: SystemText
    #: the texts the task is about, kept by the contexts that received them
    about: list[TextRef] = Field(default_factory=list, max_length=4)
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


@event("FollowUpContacted", version=2)
class FollowUpContacted(OnTask):
    """One attempt to reach the customer, reached or not, with what was said or tried."""

    reached: bool
    note: TextRef | None = None
    attempt: int = Field(ge=1)
    at: datetime


@event("FollowUpReassigned", version=2)
class FollowUpReassigned(OnTask):
    from_owner: StaffId | None = None
    to_owner: StaffId
    reason: TextRef | None = None
    at: datetime


@event("FollowUpCompleted", version=2)
class FollowUpCompleted(_OnTaskOfKind):
    at: datetime
    #: staff's note
    note: TextRef | None = None
    #: a rule completed it (e.g. the complaint service recorded the update): why, in its words
    rule: SystemText | None = None
    about: list[TextRef] = Field(default_factory=list, max_length=4)
    #: verification tasks only: whether the correction really happened
    verified: bool | None = None


@event("FollowUpCancelled", version=2)
class FollowUpCancelled(_OnTaskOfKind):
    #: staff's reason (a cancellation by staff needs one)
    reason: TextRef | None = None
    #: cancelled by a rule (e.g. the complaint closed), not by a member of staff
    automatic: bool = False
    #: the rule's reason, in its words
    rule: SystemText | None = None
    at: datetime


@event("VerificationFailed", version=2)
class VerificationFailed(OnTask):
    """跟踪核查 found the correction did not happen: the complaint service reopens the case."""

    complaint_id: UUID
    at: datetime
    #: what verification found: follow-up's text (the complaint keeps this ref)
    finding: TextRef


@event("FollowUpPaused")
class FollowUpPaused(_OnTaskOfKind):
    """The task's clock stopped: the complaint it keeps a promise about is on hold (waiting on the
    complainant or an external appraisal). A paused task is never overdue."""

    #: the rule's words (system text)
    rule: SystemText
    at: datetime


@event("FollowUpResumed")
class FollowUpResumed(_OnTaskOfKind):
    """The clock runs again with the time that was left: the due time moved by the held time."""

    paused_seconds: float = Field(ge=0)
    #: the new due time (the old one plus ``paused_seconds``)
    due_at: datetime
    rule: SystemText
    at: datetime


# ------------------------------------------------------------- v1 events with raw free text

#: what a task made before v2 gives as its reason (the v1 reason could quote staff's words)
LEGACY_REASON = "follow-up task recorded before v2 (its reason is withheld)"


def _legacy_reason(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "reason": LEGACY_REASON}


def _legacy_rule(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 automatic completion or cancellation: the rule's words go with the withheld text."""
    return {**data, "rule": LEGACY_REASON} if data.get("automatic") else data


withhold_texts(FollowUpScheduled, "followup", also=_legacy_reason)
withhold_texts(FollowUpContacted, "followup", "note")
withhold_texts(FollowUpReassigned, "followup", "reason")
withhold_texts(FollowUpCompleted, "followup", "note")
withhold_texts(FollowUpCancelled, "followup", "reason", also=_legacy_rule)
withhold_texts(VerificationFailed, "followup", "finding")
