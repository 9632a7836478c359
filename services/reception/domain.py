"""The visit decider's public face: commands, state, ``decide``/``evolve`` in one import.

The decider's parts live in :mod:`services.reception.decider` (state, commands, one step per
command, evolve); ``decide`` here checks what every command needs and hands the command to its
step. Callers write ``from services.reception import domain as v``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.reception.decider import steps
from services.reception.decider.commands import (
    Abandon,
    Arrive,
    Call,
    CheckDocuments,
    Command,
    ConfirmNeed,
    Express,
    Greet,
    Guide,
    Leave,
    MarkNoShow,
    Queue,
    RaiseComplaint,
    RecordSla,
    Return,
    Serve,
)
from services.reception.decider.evolve import evolve, fold
from services.reception.decider.state import (
    BEFORE_QUEUE,
    MAX_CALLS,
    NEED_CHANGEABLE,
    WAITING,
    Status,
    Visit,
    stream_id,
)
from shared.decider import Decider, DomainError
from shared.decider_tables import decide_by
from shared.registry import EventData

#: each command's step (:mod:`services.reception.decider.steps`): what it records, or why not
STEPS: dict[type, Callable[[Visit, Any], Sequence[EventData]]] = {
    Arrive: steps.arrive,
    Greet: steps.greet,
    ConfirmNeed: steps.confirm_need,
    Guide: steps.guide,
    CheckDocuments: steps.check_documents,
    Leave: steps.leave,
    Return: steps.return_,
    Queue: steps.queue,
    Call: steps.call,
    Serve: steps.serve,
    Abandon: steps.abandon_queue,
    MarkNoShow: steps.no_show,
    RaiseComplaint: steps.raise_complaint,
    RecordSla: steps.record_sla,
}


def started(state: Visit, command: Command) -> bool:
    """What every command needs: a started visit (but ``Arrive``), not ended (but an SLA milestone)."""
    if state.status is Status.none and not isinstance(command, Arrive):
        raise DomainError("the visit has not started: register the customer's arrival first")
    if state.status is Status.left and not isinstance(command, RecordSla):
        raise DomainError(f"the visit has ended ({state.left_reason or 'left'}): nothing more can happen")
    return True


decide: Callable[[Visit, Command], Sequence[EventData]] = decide_by(STEPS, started)


visit_decider: Decider[Command, Visit] = Decider(Visit(), decide, evolve)


__all__ = [
    "BEFORE_QUEUE",
    "MAX_CALLS",
    "NEED_CHANGEABLE",
    "WAITING",
    "Abandon",
    "Arrive",
    "Call",
    "CheckDocuments",
    "Command",
    "ConfirmNeed",
    "Express",
    "Greet",
    "Guide",
    "Leave",
    "MarkNoShow",
    "Queue",
    "RaiseComplaint",
    "RecordSla",
    "Return",
    "Serve",
    "Status",
    "Visit",
    "decide",
    "evolve",
    "fold",
    "stream_id",
    "visit_decider",
]
