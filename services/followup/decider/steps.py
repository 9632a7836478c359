"""One function per command: what it decides on a task it applies to (``admits`` said it does).

Each event records the fields of the command of the same name (its time, texts, rule) and the
task's id and kind (:func:`record`, ``shared.by_name``); a step adds only what it decides.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from services.followup.decider import commands as c
from services.followup.decider.task import CUSTOMER_FACING, Task, complaint_of
from shared import by_name
from shared.contracts import followup as e
from shared.contracts.sla import SlaBreached
from shared.decider import DomainError
from shared.registry import EventData

E = TypeVar("E", bound=EventData)


def record(event: type[E], state: Task, command: object, **decided: Any) -> E:
    """``event`` of this task: the command's fields by name, the task's id and kind, ``decided``."""
    return by_name.record(event, command, {"task_id": state.task_id, "kind": state.kind}, **decided)


def schedule(state: Task, command: c.ScheduleTask) -> list[EventData]:
    if command.kind is e.TaskKind.verification and complaint_of(command.subject) is None:
        raise DomainError("a verification task must be about a complaint (subject complaint:<id>)")
    return [by_name.record(e.FollowUpScheduled, command, scheduled_at=command.at)]


def contact(state: Task, command: c.RecordContact) -> list[EventData]:
    return [record(e.FollowUpContacted, state, command, attempt=state.attempts + 1)]


def complete(state: Task, command: c.CompleteTask) -> list[EventData]:
    if state.kind is e.TaskKind.verification:
        if command.verified is None:
            raise DomainError("completing a verification needs its result: verified true or false")
    elif command.verified is not None:
        raise DomainError("only a verification task has a verified result")
    if state.kind in CUSTOMER_FACING and not state.reached and not command.automatic:
        raise DomainError(
            "the customer has not been reached yet: record a contact with reached=true first "
            "(if they cannot be reached, record the attempts and cancel with a reason)"
        )
    completed = record(e.FollowUpCompleted, state, command)
    if command.verified is not False:
        return [completed]
    if command.note is None:
        raise DomainError("a failed verification needs a note saying what was found")
    assert state.complaint_id is not None  # checked when scheduled
    failed = record(
        e.VerificationFailed, state, command, complaint_id=state.complaint_id, finding=command.note
    )
    return [completed, failed]


def cancel(state: Task, command: c.CancelTask) -> list[EventData]:
    if command.reason is None and not command.rule:
        raise DomainError("cancelling a follow-up needs a reason")
    return [record(e.FollowUpCancelled, state, command)]


def reassign(state: Task, command: c.ReassignTask) -> list[EventData]:
    if command.to_owner == state.owner:
        raise DomainError(f"the task is already assigned to {command.to_owner}")
    return [record(e.FollowUpReassigned, state, command, from_owner=state.owner)]


def pause(state: Task, command: c.PauseTask) -> list[EventData]:
    return [] if state.paused_at is not None else [record(e.FollowUpPaused, state, command)]


def resume(state: Task, command: c.ResumeTask) -> list[EventData]:
    if state.paused_at is None:
        return []
    assert state.due_at is not None
    held = max(command.at - state.paused_at, timedelta(0))
    # a hold that began once the time had run out moves nothing: the task was already due (the
    # SLA clock agrees: a pause counts only while time is left)
    moved = held if state.paused_at < state.due_at else timedelta(0)
    return [
        record(
            e.FollowUpResumed,
            state,
            command,
            paused_seconds=held.total_seconds(),
            due_at=state.due_at + moved,
        )
    ]


def sla(state: Task, command: c.RecordSla) -> list[EventData]:
    """A milestone of the task's deadline; a breach only once."""
    fired = isinstance(command.event, SlaBreached) and state.breached_at is not None
    return [] if fired else [command.event]
