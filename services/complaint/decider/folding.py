"""How a complaint case is folded from its events: the table from event type to the small
function that applies it (filled by :mod:`.evolve_lifecycle` and :mod:`.evolve_regulatory`), and
the helpers those functions share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.complaint.state import (
    REGULATORY_SLA,
    Complaint,
    SolutionStatus,
    Status,
)
from shared.by_name import replace
from shared.contracts.complaint import (
    ClockStart,
    HoldKind,
)
from shared.contracts.text import TextRef
from shared.decider_tables import Evolutions

#: event type → the function that applies it to a case (``@on(EventType)``)
EVOLVE: Evolutions[Complaint] = Evolutions()
on = EVOLVE.on


#: what a cycle records of itself, as a new cycle starts: nothing yet
_CYCLE_FRESH: dict[str, Any] = {
    "acknowledged_at": None,
    "resolved_at": None,
    "answered_at": None,
    "outcome": None,
    "closed_at": None,
    "sla_fired": frozenset(),
    "breached_slas": frozenset(),
}


def new_cycle(state: Complaint, cycle: int, at: datetime, starts: Sequence[ClockStart]) -> Complaint:
    """A reopen or a review starts a new cycle: its own acknowledgement, answer and clocks."""
    clocks = state.clocks.start_all(starts, hold_of(state), at)
    return replace(state, **_CYCLE_FRESH, cycle=cycle, cycle_started_at=at, clocks=clocks)


def hold_of(state: Complaint) -> tuple[HoldKind, TextRef | None] | None:
    return (state.hold.kind, state.hold.reason) if state.hold else None


def start_clocks(state: Complaint, starts: Sequence[ClockStart], at: datetime) -> Complaint:
    """(Re)start regulatory clocks; a restarted decision clock starts over without extensions."""
    if not starts:
        return state
    slas = {s.sla for s in starts}
    state = replace(
        state,
        clocks=state.clocks.start_all(starts, hold_of(state), at),
        calendar=state.calendar or starts[0].calendar,
        breached_slas=state.breached_slas - slas,
    )
    if REGULATORY_SLA in slas:
        state = replace(state, regulatory_extensions=0, regulatory_limit_days=None, pending_extension=None)
    return state


def answered(state: Complaint, at: datetime, met_by: str, **more: Any) -> Complaint:
    """The customer has the bank's decision (its answer, or a review's) at ``at``: the clocks that
    decision meets stop; ``more``: what else the decision records."""
    return replace(
        state, status=Status.answered, answered_at=at, clocks=state.clocks.meet_by(met_by, at), **more
    )


def set_solution(state: Complaint, solution_id: UUID, status: SolutionStatus) -> Complaint:
    solutions = tuple(
        replace(s, status=status) if s.solution_id == solution_id else s for s in state.solutions
    )
    return replace(state, solutions=solutions)


def add_source(ids: frozenset[UUID], new: UUID | None) -> frozenset[UUID]:
    return ids if new is None else ids | {new}
