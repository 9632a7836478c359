"""How each visit event changes the state: one small function per event type (``evolve.table``).

An event no function is registered for changes nothing (``VisitAbandoned`` and ``VisitNoShow``
are always followed by ``VisitLeft``, which ends the visit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.reception.decider.state import Status, Visit, sla_after
from shared.by_name import absorb, replace
from shared.contracts import reception as r
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.decider_tables import Evolutions
from shared.registry import EventData

#: ``evolve(state, event)``: each event type's function below (``@on``)
evolve: Evolutions[Visit] = Evolutions()
on = evolve.on


def fold(events: Sequence[EventData], state: Visit | None = None) -> Visit:
    current = Visit() if state is None else state
    for event in events:
        current = evolve(current, event)
    return current


@on(r.VisitArrived)
def _arrived(state: Visit, event: r.VisitArrived) -> Visit:
    return absorb(state, event, status=Status.arrived, arrived_at=event.at)


@on(r.VisitRoutedToRelationshipManager)
def _routed(state: Visit, event: r.VisitRoutedToRelationshipManager) -> Visit:
    return replace(state, relationship_manager=event.relationship_manager)


@on(r.VisitPrioritised)
def _prioritised(state: Visit, event: r.VisitPrioritised) -> Visit:
    merged = tuple(dict.fromkeys((*state.accessibility, *event.accessibility)))
    return replace(state, priority=event.priority or state.priority, accessibility=merged)


@on(r.VisitGreeted)
def _greeted(state: Visit, event: r.VisitGreeted) -> Visit:
    return replace(state, status=Status.greeted, customer_ref=event.customer_ref or state.customer_ref)


@on(r.NeedConfirmed)
def _need(state: Visit, event: r.NeedConfirmed) -> Visit:
    """A (new) need: its materials are told and checked again."""
    need: dict[str, Any] = {"service_type": event.service_type, "line": event.line, "need_notes": event.notes}
    return replace(state, status=Status.need_confirmed, required_materials=(), missing=(), **need)


@on(r.VisitGuided)
def _guided(state: Visit, event: r.VisitGuided) -> Visit:
    return replace(state, status=Status.guided, required_materials=tuple(event.required_materials))


@on(r.DocumentsChecked)
def _checked(state: Visit, event: r.DocumentsChecked) -> Visit:
    status = Status.documents_complete if event.complete else Status.documents_incomplete
    first = event.complete if state.first_check_complete is None else state.first_check_complete
    checks = state.document_checks + 1
    return replace(
        state, status=status, missing=tuple(event.missing), document_checks=checks, first_check_complete=first
    )


#: the events that change nothing but where the visit stands
MOVES_TO: dict[type, Status] = {
    r.VisitSteppedOut: Status.away,
    r.VisitReturned: Status.documents_incomplete,
}


@on(*MOVES_TO)
def _moved(state: Visit, event: EventData) -> Visit:
    return replace(state, status=MOVES_TO[type(event)])


@on(r.VisitQueued)
def _queued(state: Visit, event: r.VisitQueued) -> Visit:
    """A ticket: the wait (and its SLA) starts."""
    ticket: dict[str, Any] = {"ticket": event.ticket, "line": event.line, "day": event.day}
    return replace(state, status=Status.queued, queued_at=event.at, sla_status="on_track", **ticket)


@on(r.VisitCalled)
def _called(state: Visit, event: r.VisitCalled) -> Visit:
    at_counter: dict[str, Any] = {"counter_id": event.counter_id, "staff_id": event.staff_id}
    first = state.first_called_at or event.at
    return replace(
        state,
        status=Status.called,
        calls=event.call_number,
        first_called_at=first,
        last_called_at=event.at,
        **at_counter,
    )


@on(r.VisitServed)
def _served(state: Visit, event: r.VisitServed) -> Visit:
    return replace(state, status=Status.served, served_at=event.at)


@on(r.VisitLeft)
def _left(state: Visit, event: r.VisitLeft) -> Visit:
    return replace(state, status=Status.left, left_at=event.at, left_reason=event.reason)


@on(r.ComplaintRaisedDuringVisit)
def _complaint(state: Visit, event: r.ComplaintRaisedDuringVisit) -> Visit:
    return replace(
        state, complaints=state.complaints + 1, customer_ref=state.customer_ref or event.customer_ref
    )


@on(SlaAtRisk, SlaBreached)
def _sla(state: Visit, event: SlaAtRisk | SlaBreached) -> Visit:
    return replace(state, sla_status=sla_after(state.sla_status, event))
