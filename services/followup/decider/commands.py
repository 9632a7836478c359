"""What staff, the rules and the SLA clock ask of a follow-up task; time arrives inside them.

What a command does to a task that is not open is said on the command (:class:`NotOpen`), and
checked once by :func:`services.followup.decider.admits` before its step runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import ClassVar
from uuid import UUID

from shared.contracts.followup import TaskKind
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef


class NotOpen(Enum):
    """What a command does to a task that is not open (never scheduled, or completed/cancelled)."""

    #: staff's steps: refused, with the reason (no such task, or it is closed)
    refuse = "refuse"
    #: the clock's steps (an SLA milestone, a pause, a resume): nothing
    nothing = "nothing"
    #: a rule closing the task (its complaint closed, the update was given): nothing once it is
    #: closed (a redelivered or late rule), refused on a task that was never scheduled
    nothing_once_closed = "nothing_once_closed"
    #: a schedule: only a task not scheduled yet; on any other nothing (same id = same cause)
    new_only = "new_only"


class TaskCommand:
    """A command on one task; :attr:`NOT_OPEN` says what it does to a task that is not open."""

    NOT_OPEN: ClassVar[NotOpen] = NotOpen.refuse

    def not_open(self) -> NotOpen:
        return self.NOT_OPEN


@dataclass(frozen=True)
class ByRule(TaskCommand):
    """A step staff or a rule takes (``automatic``, in the rule's words): a rule's is quiet on a
    closed task. Keyword-only, after the step's own fields."""

    #: done by a rule (e.g. the complaint closed, the update was recorded), not by staff
    automatic: bool = field(default=False, kw_only=True)
    #: the rule's words (system text)
    rule: str | None = field(default=None, kw_only=True)

    def not_open(self) -> NotOpen:
        return NotOpen.nothing_once_closed if self.automatic else NotOpen.refuse


@dataclass(frozen=True)
class ScheduleTask(TaskCommand):
    NOT_OPEN = NotOpen.new_only

    task_id: UUID
    kind: TaskKind
    due_at: datetime
    reason: str
    subject: str
    at: datetime
    owner: str | None = None
    #: the texts (of other contexts) the task is about: copied as references, never read
    about: tuple[TextRef, ...] = ()
    cause_event_id: UUID | None = None
    customer_ref: str | None = None
    previous_task_id: UUID | None = None
    #: regulatory milestone tasks: the deadline they warn about (a decision meeting it ends them)
    regulatory_sla: str | None = None


@dataclass(frozen=True)
class RecordContact(TaskCommand):
    reached: bool
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class CompleteTask(ByRule):
    at: datetime
    note: TextRef | None = None
    #: verification tasks: did the correction really happen? (required for them, refused otherwise)
    verified: bool | None = None
    #: what a rule's completion refers to
    about: tuple[TextRef, ...] = ()


@dataclass(frozen=True)
class CancelTask(ByRule):
    reason: TextRef | None
    at: datetime


@dataclass(frozen=True)
class ReassignTask(TaskCommand):
    to_owner: str
    at: datetime
    reason: TextRef | None = None


@dataclass(frozen=True)
class ClockRule(TaskCommand):
    """A rule on the task's clock, in its words; nothing on a task that is not open."""

    NOT_OPEN = NotOpen.nothing

    at: datetime
    rule: str


class PauseTask(ClockRule):
    """The clock stops (the task's complaint was put on hold); nothing on an already paused task,
    so a redelivered hold changes nothing."""


class ResumeTask(ClockRule):
    """The clock runs again with the time that was left (nothing unless paused)."""


@dataclass(frozen=True)
class RecordSla(TaskCommand):
    """The SLA clock reached a milestone of the task's deadline (from the deadline scheduler)."""

    NOT_OPEN = NotOpen.nothing

    event: SlaAtRisk | SlaBreached


Command = (
    ScheduleTask
    | RecordContact
    | CompleteTask
    | CancelTask
    | ReassignTask
    | RecordSla
    | PauseTask
    | ResumeTask
)
