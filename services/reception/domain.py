"""The visit decider's public face: commands, state, ``decide``/``evolve`` in one import.

The decider's parts live in :mod:`services.reception.decider` (state, commands, one step per
command, evolve); ``decide`` here checks what every command needs and hands the command to its
step. Callers write ``from services.reception import domain as v``.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    id_of,
    stream_id,
)
from shared.contracts.reception import VisitReturned
from shared.decider import Decider, DomainError
from shared.registry import EventData


def decide(state: Visit, command: Command) -> Sequence[EventData]:
    if state.status is Status.none and not isinstance(command, Arrive):
        raise DomainError("the visit has not started: register the customer's arrival first")
    if state.status is Status.left and not isinstance(command, RecordSla):
        raise DomainError(f"the visit has ended ({state.left_reason or 'left'}): nothing more can happen")
    match command:
        case Arrive():
            return steps.arrive(state, command)
        case Greet():
            return steps.greet(state, command)
        case ConfirmNeed():
            return steps.confirm_need(state, command)
        case Guide():
            return steps.guide(state, command)
        case CheckDocuments():
            return steps.check_documents(state, command)
        case Leave():
            return steps.leave(state, command)
        case Return():
            if state.status is not Status.away:
                raise DomainError(f"the customer did not step out (visit is {state.status})")
            return [VisitReturned(visit_id=id_of(state), at=command.at)]
        case Queue():
            return steps.queue(state, command)
        case Call():
            return steps.call(state, command)
        case Serve():
            return steps.serve(state, command)
        case Abandon():
            if state.status not in WAITING:
                raise DomainError(
                    f"only a customer holding a ticket can abandon the queue (visit is {state.status}); "
                    "use leave"
                )
            return steps.abandon(state, command.at)
        case MarkNoShow():
            return steps.no_show(state, command)
        case RaiseComplaint():
            return [
                steps.complaint(state, command.description, command.at, command.customer_ref, from_need=False)
            ]
        case RecordSla():
            # only while the customer still waits; a late milestone after the call is dropped
            return [command.event] if state.status is Status.queued else []
    raise DomainError(f"unknown command {type(command).__name__}")


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
