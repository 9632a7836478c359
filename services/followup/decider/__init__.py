"""The follow-up task decider (跟踪服务), in small parts: pure, no I/O; time arrives inside commands.

A task keeps one promise to a customer: scheduled → contacted (reached or not, with notes, any
number of attempts) → completed or cancelled; it can be reassigned while open, and its clock
paused while its complaint is on hold. ``ScheduleTask`` on an existing task decides nothing: the
id is derived from the cause, so that is a redelivery.

Where things are: :mod:`.task` (the state, statuses and ids), :mod:`.commands` (what may be asked,
and on each what it does to a task that is not open), :mod:`.steps` (one function per command),
:mod:`.evolve` (one function per event) and :mod:`.rules` (which tasks other contexts' events
create). ``decide`` checks the command against the task's state once (:func:`admits`) and hands it
to its step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.followup.decider import steps
from services.followup.decider.commands import (
    CancelTask,
    Command,
    CompleteTask,
    NotOpen,
    PauseTask,
    ReassignTask,
    RecordContact,
    RecordSla,
    ResumeTask,
    ScheduleTask,
)
from services.followup.decider.evolve import evolve
from services.followup.decider.task import (
    CUSTOMER_FACING,
    NAMESPACE,
    OPEN,
    Task,
    TaskStatus,
    stream_id,
    successor_id,
    task_id_for,
)
from shared.decider import Decider, DomainError
from shared.decider_tables import decide_by
from shared.registry import EventData

#: command type → the step that decides it
HANDLERS: dict[type, Callable[[Task, Any], list[EventData]]] = {
    ScheduleTask: steps.schedule,
    RecordContact: steps.contact,
    CompleteTask: steps.complete,
    CancelTask: steps.cancel,
    ReassignTask: steps.reassign,
    PauseTask: steps.pause,
    ResumeTask: steps.resume,
    RecordSla: steps.sla,
}


def admits(state: Task, command: Command) -> bool:
    """Whether the command's step runs on this task (False: it decides nothing); raises with the
    reason when the command is refused (what it does to a task that is not open is on it)."""
    rule = command.not_open()
    if rule is NotOpen.new_only:
        return state.status is TaskStatus.none
    if state.is_open:
        return True
    if rule is NotOpen.nothing or (
        rule is NotOpen.nothing_once_closed and state.status is not TaskStatus.none
    ):
        return False
    if state.status is TaskStatus.none:
        raise DomainError("no such follow-up task")
    raise DomainError(f"the task is {state.status.value}: nothing more can be done with it")


decide: Callable[[Task, Command], Sequence[EventData]] = decide_by(HANDLERS, admits)


followup_decider: Decider[Command, Task] = Decider(Task(), decide, evolve)

__all__ = [
    "CUSTOMER_FACING",
    "HANDLERS",
    "NAMESPACE",
    "OPEN",
    "CancelTask",
    "Command",
    "CompleteTask",
    "PauseTask",
    "ReassignTask",
    "RecordContact",
    "RecordSla",
    "ResumeTask",
    "ScheduleTask",
    "Task",
    "TaskStatus",
    "admits",
    "decide",
    "evolve",
    "followup_decider",
    "stream_id",
    "successor_id",
    "task_id_for",
]
