"""How each visit event changes the state; an event that changes nothing here returns it as is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from services.reception.decider.state import Status, Visit, sla_after
from shared.by_name import absorb
from shared.contracts.reception import (
    ComplaintRaisedDuringVisit,
    DocumentsChecked,
    NeedConfirmed,
    VisitArrived,
    VisitCalled,
    VisitGreeted,
    VisitGuided,
    VisitLeft,
    VisitPrioritised,
    VisitQueued,
    VisitReturned,
    VisitRoutedToRelationshipManager,
    VisitServed,
    VisitSteppedOut,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.registry import EventData


def evolve(state: Visit, event: EventData) -> Visit:
    match event:
        case VisitArrived():
            return absorb(state, event, status=Status.arrived, arrived_at=event.at)
        case VisitRoutedToRelationshipManager():
            return replace(state, relationship_manager=event.relationship_manager)
        case VisitPrioritised():
            merged = tuple(dict.fromkeys((*state.accessibility, *event.accessibility)))
            return replace(state, priority=event.priority or state.priority, accessibility=merged)
        case VisitGreeted():
            return replace(
                state, status=Status.greeted, customer_ref=event.customer_ref or state.customer_ref
            )
        case NeedConfirmed():
            return replace(
                state,
                status=Status.need_confirmed,
                service_type=event.service_type,
                line=event.line,
                need_notes=event.notes,
                required_materials=(),
                missing=(),
            )
        case VisitGuided():
            return replace(state, status=Status.guided, required_materials=tuple(event.required_materials))
        case DocumentsChecked():
            return replace(
                state,
                status=Status.documents_complete if event.complete else Status.documents_incomplete,
                missing=tuple(event.missing),
                document_checks=state.document_checks + 1,
                first_check_complete=event.complete
                if state.first_check_complete is None
                else state.first_check_complete,
            )
        case VisitSteppedOut():
            return replace(state, status=Status.away)
        case VisitReturned():
            return replace(state, status=Status.documents_incomplete)
        case VisitQueued():
            return replace(
                state,
                status=Status.queued,
                ticket=event.ticket,
                line=event.line,
                day=event.day,
                queued_at=event.at,
                sla_status="on_track",
            )
        case VisitCalled():
            return replace(
                state,
                status=Status.called,
                calls=event.call_number,
                counter_id=event.counter_id,
                staff_id=event.staff_id,
                first_called_at=state.first_called_at or event.at,
                last_called_at=event.at,
            )
        case VisitServed():
            return replace(state, status=Status.served, served_at=event.at)
        case VisitLeft():
            return replace(state, status=Status.left, left_at=event.at, left_reason=event.reason)
        case ComplaintRaisedDuringVisit():
            return replace(
                state, complaints=state.complaints + 1, customer_ref=state.customer_ref or event.customer_ref
            )
        case SlaAtRisk() | SlaBreached():
            return replace(state, sla_status=sla_after(state.sla_status, event))
    # VisitAbandoned and VisitNoShow are always followed by VisitLeft, which ends the visit
    return state


def fold(events: Sequence[EventData], state: Visit | None = None) -> Visit:
    current = Visit() if state is None else state
    for event in events:
        current = evolve(current, event)
    return current
