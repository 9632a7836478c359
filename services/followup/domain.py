"""The follow-up task decider (跟踪服务): pure, no I/O; time arrives inside commands.

A task keeps one promise to a customer: scheduled → contacted (reached or not, with notes, any
number of attempts) → completed or cancelled; it can be reassigned while open. A task's id is
derived from what caused it (:func:`task_id_for`), so scheduling it twice — a redelivered event,
two replicas — is a no-op by construction: ``ScheduleTask`` on an existing task decides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from shared.contracts.followup import (
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpContacted,
    FollowUpPaused,
    FollowUpReassigned,
    FollowUpResumed,
    FollowUpScheduled,
    TaskKind,
    VerificationFailed,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef
from shared.decider import Decider, DomainError
from shared.registry import EventData

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
        kind, _, ident = self.subject.partition(":")
        if kind != "complaint":
            return None
        try:
            return UUID(ident)
        except ValueError:
            return None


# ------------------------------------------------------------------------------------ commands


@dataclass(frozen=True)
class ScheduleTask:
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
class RecordContact:
    reached: bool
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class CompleteTask:
    at: datetime
    note: TextRef | None = None
    #: verification tasks: did the correction really happen? (required for them, refused otherwise)
    verified: bool | None = None
    #: done by a rule (e.g. the complaint service recorded the progress update), not by staff
    automatic: bool = False
    #: the rule's words (system text) and what it refers to
    rule: str | None = None
    about: tuple[TextRef, ...] = ()


@dataclass(frozen=True)
class CancelTask:
    reason: TextRef | None
    at: datetime
    #: a rule cancels (the complaint closed): on a task that is already closed it does nothing
    automatic: bool = False
    #: the rule's words (system text)
    rule: str | None = None


@dataclass(frozen=True)
class ReassignTask:
    to_owner: str
    at: datetime
    reason: TextRef | None = None


@dataclass(frozen=True)
class PauseTask:
    """A rule stops the task's clock (its complaint was put on hold); nothing on a closed or an
    already paused task, so a redelivered hold changes nothing."""

    at: datetime
    rule: str


@dataclass(frozen=True)
class ResumeTask:
    """A rule restarts the clock with the time that was left (nothing unless paused)."""

    at: datetime
    rule: str


@dataclass(frozen=True)
class RecordSla:
    """The SLA clock reached a milestone of the task's deadline (from the deadline scheduler)."""

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


# ------------------------------------------------------------------------------------- decide


def decide(state: Task, command: Command) -> Sequence[EventData]:
    match command:
        case ScheduleTask():
            return _schedule(state, command)
        case RecordSla():
            return [command.event] if state.is_open and not _already_fired(state, command.event) else []
        case CancelTask(automatic=True) if state.status is not TaskStatus.none and not state.is_open:
            return []
        case CompleteTask(automatic=True) if state.status is not TaskStatus.none and not state.is_open:
            return []
        case PauseTask():
            return _pause(state, command)
        case ResumeTask():
            return _resume(state, command)
    _require_open(state)
    assert state.task_id is not None and state.kind is not None
    match command:
        case RecordContact():
            return [
                FollowUpContacted(
                    task_id=state.task_id,
                    reached=command.reached,
                    note=command.note,
                    attempt=state.attempts + 1,
                    at=command.at,
                )
            ]
        case CompleteTask():
            return _complete(state, command)
        case CancelTask():
            if command.reason is None and not command.rule:
                raise DomainError("cancelling a follow-up needs a reason")
            return [
                FollowUpCancelled(
                    task_id=state.task_id,
                    kind=state.kind,
                    reason=command.reason,
                    automatic=command.automatic,
                    rule=command.rule,
                    at=command.at,
                )
            ]
        case ReassignTask():
            if command.to_owner == state.owner:
                raise DomainError(f"the task is already assigned to {command.to_owner}")
            return [
                FollowUpReassigned(
                    task_id=state.task_id,
                    from_owner=state.owner,
                    to_owner=command.to_owner,
                    reason=command.reason,
                    at=command.at,
                )
            ]
    raise DomainError(f"unknown command {type(command).__name__}")


def _schedule(state: Task, command: ScheduleTask) -> Sequence[EventData]:
    if state.status is not TaskStatus.none:
        return []  # same id = same cause: a redelivery, already scheduled
    if command.kind is TaskKind.verification and _complaint_of(command.subject) is None:
        raise DomainError("a verification task must be about a complaint (subject complaint:<id>)")
    return [
        FollowUpScheduled(
            task_id=command.task_id,
            kind=command.kind,
            owner=command.owner,
            due_at=command.due_at,
            reason=command.reason,
            about=list(command.about),
            subject=command.subject,
            cause_event_id=command.cause_event_id,
            customer_ref=command.customer_ref,
            scheduled_at=command.at,
            previous_task_id=command.previous_task_id,
            regulatory_sla=command.regulatory_sla,
        )
    ]


def _complete(state: Task, command: CompleteTask) -> Sequence[EventData]:
    assert state.task_id is not None and state.kind is not None
    if state.kind is TaskKind.verification:
        if command.verified is None:
            raise DomainError("completing a verification needs its result: verified true or false")
    elif command.verified is not None:
        raise DomainError("only a verification task has a verified result")
    if state.kind in CUSTOMER_FACING and not state.reached and not command.automatic:
        raise DomainError(
            "the customer has not been reached yet: record a contact with reached=true first "
            "(if they cannot be reached, record the attempts and cancel with a reason)"
        )
    completed = FollowUpCompleted(
        task_id=state.task_id,
        kind=state.kind,
        at=command.at,
        note=command.note,
        rule=command.rule,
        about=list(command.about),
        verified=command.verified,
    )
    if command.verified is not False:
        return [completed]
    if command.note is None:
        raise DomainError("a failed verification needs a note saying what was found")
    complaint_id = state.complaint_id
    assert complaint_id is not None  # checked when scheduled
    return [
        completed,
        VerificationFailed(
            task_id=state.task_id, complaint_id=complaint_id, at=command.at, finding=command.note
        ),
    ]


def _pause(state: Task, command: PauseTask) -> Sequence[EventData]:
    if not state.is_open or state.paused_at is not None:
        return []
    assert state.task_id is not None and state.kind is not None
    return [FollowUpPaused(task_id=state.task_id, kind=state.kind, rule=command.rule, at=command.at)]


def _resume(state: Task, command: ResumeTask) -> Sequence[EventData]:
    if not state.is_open or state.paused_at is None:
        return []
    assert state.task_id is not None and state.kind is not None and state.due_at is not None
    held = max(command.at - state.paused_at, timedelta(0))
    # a hold that began once the time had run out moves nothing: the task was already due (the
    # SLA clock agrees: a pause counts only while time is left)
    moved = held if state.paused_at < state.due_at else timedelta(0)
    return [
        FollowUpResumed(
            task_id=state.task_id,
            kind=state.kind,
            paused_seconds=held.total_seconds(),
            due_at=state.due_at + moved,
            rule=command.rule,
            at=command.at,
        )
    ]


def _require_open(state: Task) -> None:
    if state.status is TaskStatus.none:
        raise DomainError("no such follow-up task")
    if not state.is_open:
        raise DomainError(f"the task is {state.status.value}: nothing more can be done with it")


def _already_fired(state: Task, event: SlaAtRisk | SlaBreached) -> bool:
    return state.breached_at is not None if isinstance(event, SlaBreached) else False


def _complaint_of(subject: str) -> UUID | None:
    return Task(subject=subject).complaint_id


# ------------------------------------------------------------------------------------- evolve


def evolve(state: Task, event: EventData) -> Task:
    match event:
        case FollowUpScheduled():
            return replace(
                state,
                status=TaskStatus.scheduled,
                task_id=event.task_id,
                kind=event.kind,
                owner=event.owner,
                due_at=event.due_at,
                reason=event.reason,
                about=tuple(event.about),
                subject=event.subject,
                cause_event_id=event.cause_event_id,
                customer_ref=event.customer_ref,
                scheduled_at=event.scheduled_at,
                previous_task_id=event.previous_task_id,
                regulatory_sla=event.regulatory_sla,
            )
        case FollowUpContacted():
            return replace(
                state,
                status=TaskStatus.contacted,
                attempts=event.attempt,
                reached=state.reached or event.reached,
                last_note=event.note,
            )
        case FollowUpReassigned():
            return replace(state, owner=event.to_owner)
        case FollowUpCompleted():
            return replace(
                state,
                status=TaskStatus.completed,
                closed_at=event.at,
                close_note=event.note,
                close_rule=event.rule,
                about=state.about + tuple(event.about),
                verified=event.verified,
            )
        case FollowUpCancelled():
            return replace(
                state,
                status=TaskStatus.cancelled,
                closed_at=event.at,
                close_note=event.reason,
                close_rule=event.rule,
            )
        case FollowUpPaused():
            return replace(state, paused_at=event.at)
        case FollowUpResumed():
            return replace(
                state,
                paused_at=None,
                due_at=event.due_at,
                held_seconds=state.held_seconds + event.paused_seconds,
            )
        case SlaAtRisk():
            return replace(state, at_risk_at=state.at_risk_at or event.at)
        case SlaBreached():
            return replace(state, breached_at=event.at)
    return state


followup_decider: Decider[Command, Task] = Decider(Task(), decide, evolve)


# ---------------------------------------------------------------------------------------- ids


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
