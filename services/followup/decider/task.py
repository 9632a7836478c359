"""A follow-up task's state and ids: what a task is, whatever command it gets next.

A task's id is derived from what caused it (:func:`task_id_for`), so scheduling it twice — a
redelivered event, two replicas — makes the same id, and the second schedule decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from shared.contracts.followup import TaskKind
from shared.contracts.text import TextRef

#: namespace of every derived follow-up id (never change it: ids must stay stable on replay)
NAMESPACE = UUID("5b0f3c52-3a41-4e4e-9a5c-7f0d8e1f2a60")

#: kinds whose completion means "the customer was told": a reached contact must come first
CUSTOMER_FACING = frozenset(
    {TaskKind.progress_update, TaskKind.callback, TaskKind.service_recovery, TaskKind.inform_complainant}
)


class TaskStatus(StrEnum):
    none = "none"
    scheduled = "scheduled"
    contacted = "contacted"
    completed = "completed"
    cancelled = "cancelled"


OPEN = frozenset({TaskStatus.scheduled, TaskStatus.contacted})


@dataclass(frozen=True)
class Task:
    status: TaskStatus = TaskStatus.none
    task_id: UUID | None = None
    kind: TaskKind | None = None
    owner: str | None = None
    due_at: datetime | None = None
    #: the rule's words (system text)
    reason: str = ""
    #: the texts the task is about (other contexts' refs)
    about: tuple[TextRef, ...] = ()
    subject: str = ""
    cause_event_id: UUID | None = None
    customer_ref: str | None = None
    scheduled_at: datetime | None = None
    previous_task_id: UUID | None = None
    regulatory_sla: str | None = None
    attempts: int = 0
    reached: bool = False
    last_note: TextRef | None = None
    closed_at: datetime | None = None
    #: staff's note (completed) or reason (cancelled)
    close_note: TextRef | None = None
    #: a rule's words when a rule closed it
    close_rule: str | None = None
    verified: bool | None = None
    at_risk_at: datetime | None = None
    breached_at: datetime | None = None
    #: since when the task's clock stands still (its complaint is on hold); None while it runs
    paused_at: datetime | None = None
    #: time held so far (the due time has already moved by it)
    held_seconds: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def overdue(self, now: datetime) -> bool:
        """Past due and running: a paused task is never overdue (its time is not the branch's)."""
        return self.is_open and self.paused_at is None and self.due_at is not None and self.due_at <= now

    @property
    def complaint_id(self) -> UUID | None:
        """The complaint of a ``complaint:<id>`` subject, if that is what the task is about."""
        return complaint_of(self.subject)


def complaint_of(subject: str) -> UUID | None:
    """The complaint of a ``complaint:<id>`` subject, else None."""
    kind, _, ident = subject.partition(":")
    if kind != "complaint":
        return None
    try:
        return UUID(ident)
    except ValueError:
        return None


def stream_id(task_id: UUID) -> str:
    return f"followup-{task_id}"


def task_id_for(cause_event_id: UUID, kind: TaskKind, key: UUID | None = None) -> UUID:
    """One task per causing event and kind (and ``key``, when one event makes several tasks of a
    kind, e.g. one per remediation action): the same event delivered twice makes the same id."""
    if key is None:
        return uuid5(NAMESPACE, f"{cause_event_id}:{kind.value}")
    return uuid5(NAMESPACE, f"{cause_event_id}:{kind.value}:{key}")


def successor_id(task_id: UUID) -> UUID:
    """The next task of a chain (progress updates): one successor per task, whoever asks first."""
    return uuid5(NAMESPACE, f"{task_id}:next")
