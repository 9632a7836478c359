"""The visit decider's public face: commands, state, ``decide``/``evolve`` in one import.

The decider itself lives in :mod:`services.reception.decider` (state, commands, one step per
command, evolve); this module re-exports it so callers write
``from services.reception import domain as v``.
"""

from __future__ import annotations

from services.reception.decider import decide, visit_decider
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
