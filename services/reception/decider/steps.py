"""One function per visit command: the events it records, or a :class:`DomainError` saying why not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from services.reception.decider import commands as c
from services.reception.decider.evolve import fold
from services.reception.decider.state import (
    BEFORE_QUEUE,
    MAX_CALLS,
    NEED_CHANGEABLE,
    WAITING,
    Status,
    Visit,
    id_of,
    seconds_between,
)
from shared.by_name import record
from shared.contracts import reception as r
from shared.contracts.text import TextRef
from shared.decider import DomainError
from shared.registry import EventData


def check_arrival(state: Visit, command: c.Arrive) -> None:
    """Every reason :func:`arrive` refuses, checked without deciding (no events built): an arrival
    takes its ticket number before it is decided, so it checks this first (a refused arrival takes
    no number, ``services/reception/tickets.py``)."""
    if state.status is not Status.none:
        raise DomainError("the visit has already started")
    if command.relationship_manager and not command.returning:
        raise DomainError("only a returning customer can have a relationship manager")
    if command.express is not None:
        _check_need(command.express.service_type, command.express.notes, command.customer_ref)


def _check_need(service_type: r.ServiceType, notes: TextRef | None, customer_ref: str | None) -> None:
    """Why a need is refused (a complaint's: no description, or nobody to reach)."""
    if service_type is not r.ServiceType.complaint:
        return
    if notes is None or not notes.length:
        raise DomainError("a complaint needs a description: say what the customer complains about in notes")
    if customer_ref is None:
        raise DomainError(
            "a complaint needs the customer's reference (customer_ref) "
            "so the complaint service can reach them"
        )


def arrive(state: Visit, command: c.Arrive) -> list[EventData]:
    check_arrival(state, command)
    events: list[EventData] = [record(r.VisitArrived, command)]
    if command.relationship_manager:
        events.append(record(r.VisitRoutedToRelationshipManager, command))
    if command.priority or command.accessibility:
        events.append(_prioritised(command.visit_id, command.priority, command.accessibility, command.at))
    if command.express is not None:
        express = command.express
        arrived = fold(events, state)
        events += _need(arrived, express.service_type, express.line, express.notes, command.at)
        events.append(_queued(fold(events, state), express.ticket, express.day, command.at))
    return events


def greet(state: Visit, command: c.Greet) -> list[EventData]:
    if state.status is not Status.arrived:
        raise DomainError(f"the customer was already greeted (visit is {state.status})")
    if command.customer_ref and state.customer_ref and command.customer_ref != state.customer_ref:
        raise DomainError("the customer reference differs from the one recorded at arrival")
    events: list[EventData] = [record(r.VisitGreeted, command, state)]
    if command.priority or command.accessibility:
        events.append(_prioritised(id_of(state), command.priority, command.accessibility, command.at))
    return events


def confirm_need(state: Visit, command: c.ConfirmNeed) -> list[EventData]:
    if state.status is Status.arrived:
        raise DomainError("greet the customer before confirming their need")
    if state.status is Status.away:
        raise DomainError("the customer stepped out to fetch documents: record their return first")
    if state.status not in NEED_CHANGEABLE:
        raise DomainError(f"the need cannot change once a ticket was issued (visit is {state.status})")
    if state.service_type is command.service_type:
        raise DomainError(f"the need is already confirmed as {command.service_type}")
    return _need(state, command.service_type, command.line, command.notes, command.at)


def _need(
    state: Visit, service_type: r.ServiceType, line: str, notes: TextRef | None, at: datetime
) -> list[EventData]:
    _check_need(service_type, notes, state.customer_ref)
    events: list[EventData] = [
        r.NeedConfirmed(visit_id=id_of(state), service_type=service_type, line=line, notes=notes, at=at)
    ]
    if service_type is r.ServiceType.complaint:
        assert notes is not None
        events.append(complaint(state, notes, at, None, from_need=True))
    return events


def guide(state: Visit, command: c.Guide) -> list[EventData]:
    if state.status in (Status.arrived, Status.greeted):
        raise DomainError("confirm the customer's need before guiding them")
    if state.status is not Status.need_confirmed:
        raise DomainError(f"the customer was already guided (visit is {state.status})")
    assert state.service_type is not None
    return [record(r.VisitGuided, command, state)]


def check_documents(state: Visit, command: c.CheckDocuments) -> list[EventData]:
    if state.status in (Status.arrived, Status.greeted, Status.need_confirmed):
        raise DomainError("guide the customer (tell them the required materials) before checking documents")
    if state.status is Status.away:
        raise DomainError("the customer stepped out to fetch documents: record their return first")
    if state.status is Status.documents_complete:
        raise DomainError("the documents were already found complete")
    if state.status not in (Status.guided, Status.documents_incomplete):
        raise DomainError(f"documents are checked before queueing (visit is {state.status})")
    unknown = [m for m in command.missing if m not in state.required_materials]
    if unknown:
        required = ", ".join(state.required_materials) or "nothing"
        raise DomainError(
            f"{', '.join(unknown)} not required for {state.service_type} (required: {required})"
        )
    missing = list(dict.fromkeys(command.missing))
    return [
        record(
            r.DocumentsChecked,
            command,
            state,
            complete=not missing,
            missing=missing,
            attempt=state.document_checks + 1,
        )
    ]


def leave(state: Visit, command: c.Leave) -> list[EventData]:
    if command.to_fetch_documents:
        if state.status is not Status.documents_incomplete:
            raise DomainError(
                "only a customer whose documents are incomplete steps out to fetch them "
                f"(visit is {state.status})"
            )
        return [record(r.VisitSteppedOut, command, state)]
    if state.status in WAITING:
        return abandon(state, command.at)
    if state.status is Status.served:
        reason = r.LeftReason.served
    elif state.status is Status.away:
        reason = r.LeftReason.did_not_return
    else:
        reason = r.LeftReason.before_queue
    return [record(r.VisitLeft, command, state, reason=reason)]


def queue(state: Visit, command: c.Queue) -> list[EventData]:
    if state.status in (Status.arrived, Status.greeted):
        raise DomainError("confirm the customer's need before issuing a ticket")
    if state.status is Status.need_confirmed:
        raise DomainError("guide the customer (tell them the required materials) before issuing a ticket")
    if state.status is Status.guided and state.required_materials:
        raise DomainError(f"check the documents first: {', '.join(state.required_materials)} required")
    if state.status is Status.documents_incomplete:
        raise DomainError(f"documents are incomplete, missing: {', '.join(state.missing)}")
    if state.status is Status.away:
        raise DomainError("the customer stepped out to fetch documents: record their return first")
    if state.status in WAITING or state.status is Status.served:
        raise DomainError(f"a ticket was already issued ({state.ticket}; visit is {state.status})")
    return [_queued(state, command.ticket, command.day, command.at)]


def _queued(state: Visit, ticket: str, day: date, at: datetime) -> r.VisitQueued:
    assert state.line is not None and state.service_type is not None
    return record(r.VisitQueued, {"ticket": ticket, "day": day, "at": at}, state)


def call(state: Visit, command: c.Call) -> list[EventData]:
    if state.status in BEFORE_QUEUE:
        raise DomainError(f"the customer has no ticket yet (visit is {state.status})")
    if state.status is Status.served:
        raise DomainError("the customer was already served")
    if state.calls >= MAX_CALLS:
        raise DomainError(
            f"ticket {state.ticket} was called {state.calls} times: mark the visit as a no-show"
        )
    assert state.queued_at is not None and state.ticket is not None and state.line is not None
    waited = seconds_between(state.queued_at, command.at)
    return [record(r.VisitCalled, command, state, call_number=state.calls + 1, waited_seconds=waited)]


def serve(state: Visit, command: c.Serve) -> list[EventData]:
    if state.status is Status.served:
        raise DomainError("the customer was already served")
    if state.status is not Status.called:
        raise DomainError(f"call the customer to a counter before serving them (visit is {state.status})")
    if command.promised_by is not None and command.promised_by <= command.at:
        raise DomainError("promised_by must be a time in the future")
    assert state.service_type and state.counter_id and state.staff_id and state.last_called_at
    seconds = {
        "waited_seconds": state.waited_seconds or 0.0,
        "service_seconds": seconds_between(state.last_called_at, command.at),
    }
    return [record(r.VisitServed, command, state, **seconds)]


def return_(state: Visit, command: c.Return) -> list[EventData]:
    if state.status is not Status.away:
        raise DomainError(f"the customer did not step out (visit is {state.status})")
    return [record(r.VisitReturned, command, state)]


def abandon_queue(state: Visit, command: c.Abandon) -> list[EventData]:
    if state.status not in WAITING:
        raise DomainError(
            f"only a customer holding a ticket can abandon the queue (visit is {state.status}); use leave"
        )
    return abandon(state, command.at)


def raise_complaint(state: Visit, command: c.RaiseComplaint) -> list[EventData]:
    return [complaint(state, command.description, command.at, command.customer_ref, from_need=False)]


def record_sla(state: Visit, command: c.RecordSla) -> list[EventData]:
    # only while the customer still waits; a late milestone after the call is dropped
    return [command.event] if state.status is Status.queued else []


def abandon(state: Visit, at: datetime) -> list[EventData]:
    assert state.queued_at is not None and state.ticket is not None and state.line is not None
    waited = seconds_between(state.queued_at, state.first_called_at or at)
    when = {"at": at}
    return [
        record(r.VisitAbandoned, when, state, waited_seconds=waited),
        record(r.VisitLeft, when, state, reason=r.LeftReason.abandoned),
    ]


def no_show(state: Visit, command: c.MarkNoShow) -> list[EventData]:
    if state.status is not Status.called:
        raise DomainError(f"only a called customer can be a no-show (visit is {state.status})")
    if state.calls < MAX_CALLS:
        raise DomainError(f"called {state.calls} time(s) only: a no-show needs {MAX_CALLS} calls")
    assert state.ticket is not None and state.line is not None
    return [
        record(r.VisitNoShow, command, state),
        record(r.VisitLeft, command, state, reason=r.LeftReason.no_show),
    ]


def complaint(
    state: Visit, description: TextRef, at: datetime, customer_ref: str | None, *, from_need: bool
) -> r.ComplaintRaisedDuringVisit:
    if customer_ref and state.customer_ref and customer_ref != state.customer_ref:
        raise DomainError("the customer reference differs from the one recorded for this visit")
    ref = customer_ref or state.customer_ref
    if ref is None:
        raise DomainError(
            "a complaint needs the customer's reference (customer_ref) "
            "so the complaint service can reach them"
        )
    return r.ComplaintRaisedDuringVisit(
        visit_id=id_of(state), customer_ref=ref, description=description, at=at, from_need=from_need
    )


def _prioritised(
    visit_id: UUID, priority: r.Priority | None, accessibility: Sequence[r.Accessibility], at: datetime
) -> r.VisitPrioritised:
    return r.VisitPrioritised(
        visit_id=visit_id, priority=priority, accessibility=list(dict.fromkeys(accessibility)), at=at
    )
