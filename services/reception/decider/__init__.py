"""The visit decider: from walking in to leaving. Pure, no I/O; time arrives inside commands.

arrived → greeted → need confirmed → guided → documents checked (complete, or incomplete: the
customer may step out to fetch what is missing and return, same visit) → queued (ticket) →
called (up to three times, else a no-show) → served → left. Leaving while queued or called is an
abandonment. A complaint need, or a complaint raised at any time during the visit, emits
``ComplaintRaisedDuringVisit`` for the complaint service.

Catalogue look-ups (line of a need, required materials) and ticket numbers are resolved by the
application layer and arrive inside the commands, so this module stays pure.

Where things are: :mod:`.state` (statuses, the visit), :mod:`.commands`, :mod:`.steps` (one
function per command) and :mod:`.evolve` (what each event changes). ``decide`` here checks what
every command needs (a started, not ended visit) and hands the command to its step; callers write
``from services.reception import decider as v`` (commands, state, ``decide``/``evolve``).
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
from services.reception.decider.state import MAX_CALLS, WAITING, Status, Visit, stream_id
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

#: every reason an arrival is refused, without deciding it (its ticket number is taken before)
check_arrival = steps.check_arrival


visit_decider: Decider[Command, Visit] = Decider(Visit(), decide, evolve)


__all__ = [
    "MAX_CALLS",
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
    "check_arrival",
    "decide",
    "evolve",
    "fold",
    "stream_id",
    "visit_decider",
]
