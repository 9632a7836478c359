"""The visit decider: from walking in to leaving. Pure, no I/O; time arrives inside commands.

arrived → greeted → need confirmed → guided → documents checked (complete, or incomplete: the
customer may step out to fetch what is missing and return, same visit) → queued (ticket) →
called (up to three times, else a no-show) → served → left. Leaving while queued or called is an
abandonment. A complaint need, or a complaint raised at any time during the visit, emits
``ComplaintRaisedDuringVisit`` for the complaint service.

Catalogue look-ups (line of a need, required materials) and ticket numbers are resolved by the
application layer and arrive inside the commands, so this module stays pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts.reception import (
    Accessibility,
    ComplaintRaisedDuringVisit,
    DocumentsChecked,
    LeftReason,
    NeedConfirmed,
    Priority,
    ServiceType,
    VisitAbandoned,
    VisitArrived,
    VisitCalled,
    VisitGreeted,
    VisitGuided,
    VisitLeft,
    VisitNoShow,
    VisitPrioritised,
    VisitQueued,
    VisitReturned,
    VisitRoutedToRelationshipManager,
    VisitServed,
    VisitSteppedOut,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef
from shared.decider import Decider, DomainError
from shared.registry import EventData

MAX_CALLS = 3


class Status(StrEnum):
    none = "none"
    arrived = "arrived"
    greeted = "greeted"
    need_confirmed = "need_confirmed"
    guided = "guided"
    documents_incomplete = "documents_incomplete"
    #: stepped out to fetch missing documents; the visit stays open
    away = "away"
    documents_complete = "documents_complete"
    queued = "queued"
    called = "called"
    served = "served"
    left = "left"


#: before a ticket: leaving now is not an abandonment
BEFORE_QUEUE = frozenset(
    {
        Status.arrived,
        Status.greeted,
        Status.need_confirmed,
        Status.guided,
        Status.documents_incomplete,
        Status.away,
        Status.documents_complete,
    }
)
#: holding a ticket, not yet served
WAITING = frozenset({Status.queued, Status.called})
#: the need may still change (guidance starts again)
NEED_CHANGEABLE = frozenset(
    {
        Status.greeted,
        Status.need_confirmed,
        Status.guided,
        Status.documents_incomplete,
        Status.documents_complete,
    }
)


@dataclass(frozen=True)
class Visit:
    status: Status = Status.none
    visit_id: UUID | None = None
    arrival: str | None = None
    returning: bool = False
    customer_ref: str | None = None
    display_name: str | None = None
    relationship_manager: str | None = None
    priority: Priority | None = None
    accessibility: tuple[Accessibility, ...] = ()
    service_type: ServiceType | None = None
    line: str | None = None
    need_notes: TextRef | None = None
    required_materials: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    document_checks: int = 0
    first_check_complete: bool | None = None
    ticket: str | None = None
    day: date | None = None
    arrived_at: datetime | None = None
    queued_at: datetime | None = None
    calls: int = 0
    counter_id: str | None = None
    staff_id: str | None = None
    first_called_at: datetime | None = None
    last_called_at: datetime | None = None
    served_at: datetime | None = None
    left_at: datetime | None = None
    left_reason: LeftReason | None = None
    #: of the wait SLA: on_track until an SlaAtRisk / SlaBreached arrives
    sla_status: str | None = None
    complaints: int = 0

    @property
    def waited_seconds(self) -> float | None:
        """From queued to the first call (None while not called)."""
        if self.queued_at is None or self.first_called_at is None:
            return None
        return _seconds(self.queued_at, self.first_called_at)


# ------------------------------------------------------------------------------------ commands


@dataclass(frozen=True)
class Express:
    """Ticket-machine / appointment fast path: need confirmed and queued at arrival."""

    service_type: ServiceType
    line: str
    ticket: str
    day: date
    notes: TextRef | None = None


@dataclass(frozen=True)
class Arrive:
    visit_id: UUID
    arrival: str
    at: datetime
    returning: bool = False
    customer_ref: str | None = None
    display_name: str | None = None
    relationship_manager: str | None = None
    priority: Priority | None = None
    accessibility: tuple[Accessibility, ...] = ()
    express: Express | None = None


@dataclass(frozen=True)
class Greet:
    at: datetime
    customer_ref: str | None = None
    priority: Priority | None = None
    accessibility: tuple[Accessibility, ...] = ()


@dataclass(frozen=True)
class ConfirmNeed:
    service_type: ServiceType
    line: str
    at: datetime
    notes: TextRef | None = None


@dataclass(frozen=True)
class Guide:
    required_materials: tuple[str, ...]
    at: datetime
    notes: TextRef | None = None


@dataclass(frozen=True)
class CheckDocuments:
    missing: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Leave:
    at: datetime
    #: step out to fetch missing documents and come back (same visit)
    to_fetch_documents: bool = False


@dataclass(frozen=True)
class Return:
    at: datetime


@dataclass(frozen=True)
class Queue:
    ticket: str
    day: date
    at: datetime


@dataclass(frozen=True)
class Call:
    counter_id: str
    staff_id: str
    at: datetime


@dataclass(frozen=True)
class Serve:
    outcome: TextRef | None
    at: datetime
    next_steps: TextRef | None = None
    promised_by: datetime | None = None


@dataclass(frozen=True)
class Abandon:
    at: datetime


@dataclass(frozen=True)
class MarkNoShow:
    at: datetime


@dataclass(frozen=True)
class RaiseComplaint:
    description: TextRef
    at: datetime
    customer_ref: str | None = None


@dataclass(frozen=True)
class RecordSla:
    """A milestone of the wait deadline (from the SLA scheduler)."""

    event: SlaAtRisk | SlaBreached = field()


Command = (
    Arrive
    | Greet
    | ConfirmNeed
    | Guide
    | CheckDocuments
    | Leave
    | Return
    | Queue
    | Call
    | Serve
    | Abandon
    | MarkNoShow
    | RaiseComplaint
    | RecordSla
)


# -------------------------------------------------------------------------------------- decide


def decide(state: Visit, command: Command) -> Sequence[EventData]:
    if state.status is Status.none and not isinstance(command, Arrive):
        raise DomainError("the visit has not started: register the customer's arrival first")
    if state.status is Status.left and not isinstance(command, RecordSla):
        raise DomainError(f"the visit has ended ({state.left_reason or 'left'}): nothing more can happen")
    match command:
        case Arrive():
            return _arrive(state, command)
        case Greet():
            return _greet(state, command)
        case ConfirmNeed():
            return _confirm_need(state, command)
        case Guide():
            return _guide(state, command)
        case CheckDocuments():
            return _check_documents(state, command)
        case Leave():
            return _leave(state, command)
        case Return():
            if state.status is not Status.away:
                raise DomainError(f"the customer did not step out (visit is {state.status})")
            return [VisitReturned(visit_id=_id(state), at=command.at)]
        case Queue():
            return _queue(state, command)
        case Call():
            return _call(state, command)
        case Serve():
            return _serve(state, command)
        case Abandon():
            if state.status not in WAITING:
                raise DomainError(
                    f"only a customer holding a ticket can abandon the queue (visit is {state.status}); "
                    "use leave"
                )
            return _abandon(state, command.at)
        case MarkNoShow():
            return _no_show(state, command)
        case RaiseComplaint():
            return [_complaint(state, command.description, command.at, command.customer_ref, from_need=False)]
        case RecordSla():
            # only while the customer still waits; a late milestone after the call is dropped
            return [command.event] if state.status is Status.queued else []
    raise DomainError(f"unknown command {type(command).__name__}")


def _arrive(state: Visit, command: Arrive) -> list[EventData]:
    if state.status is not Status.none:
        raise DomainError("the visit has already started")
    if command.relationship_manager and not command.returning:
        raise DomainError("only a returning customer can have a relationship manager")
    events: list[EventData] = [
        VisitArrived(
            visit_id=command.visit_id,
            customer_ref=command.customer_ref,
            arrival=command.arrival,
            returning=command.returning,
            display_name=command.display_name,
            at=command.at,
        )
    ]
    if command.relationship_manager:
        events.append(
            VisitRoutedToRelationshipManager(
                visit_id=command.visit_id, relationship_manager=command.relationship_manager, at=command.at
            )
        )
    if command.priority or command.accessibility:
        events.append(_prioritised(command.visit_id, command.priority, command.accessibility, command.at))
    if command.express is not None:
        express = command.express
        arrived = fold(events, state)
        events += _need(arrived, express.service_type, express.line, express.notes, command.at)
        events.append(_queued(fold(events, state), express.ticket, express.day, command.at))
    return events


def _greet(state: Visit, command: Greet) -> list[EventData]:
    if state.status is not Status.arrived:
        raise DomainError(f"the customer was already greeted (visit is {state.status})")
    if command.customer_ref and state.customer_ref and command.customer_ref != state.customer_ref:
        raise DomainError("the customer reference differs from the one recorded at arrival")
    events: list[EventData] = [
        VisitGreeted(visit_id=_id(state), customer_ref=command.customer_ref, at=command.at)
    ]
    if command.priority or command.accessibility:
        events.append(_prioritised(_id(state), command.priority, command.accessibility, command.at))
    return events


def _confirm_need(state: Visit, command: ConfirmNeed) -> list[EventData]:
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
    state: Visit, service_type: ServiceType, line: str, notes: TextRef | None, at: datetime
) -> list[EventData]:
    events: list[EventData] = [
        NeedConfirmed(visit_id=_id(state), service_type=service_type, line=line, notes=notes, at=at)
    ]
    if service_type is ServiceType.complaint:
        if notes is None or not notes.length:
            raise DomainError(
                "a complaint needs a description: say what the customer complains about in notes"
            )
        events.append(_complaint(state, notes, at, None, from_need=True))
    return events


def _guide(state: Visit, command: Guide) -> list[EventData]:
    if state.status in (Status.arrived, Status.greeted):
        raise DomainError("confirm the customer's need before guiding them")
    if state.status is not Status.need_confirmed:
        raise DomainError(f"the customer was already guided (visit is {state.status})")
    assert state.service_type is not None
    return [
        VisitGuided(
            visit_id=_id(state),
            service_type=state.service_type,
            required_materials=list(command.required_materials),
            notes=command.notes,
            at=command.at,
        )
    ]


def _check_documents(state: Visit, command: CheckDocuments) -> list[EventData]:
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
        DocumentsChecked(
            visit_id=_id(state),
            complete=not missing,
            missing=missing,
            attempt=state.document_checks + 1,
            at=command.at,
        )
    ]


def _leave(state: Visit, command: Leave) -> list[EventData]:
    if command.to_fetch_documents:
        if state.status is not Status.documents_incomplete:
            raise DomainError(
                "only a customer whose documents are incomplete steps out to fetch them "
                f"(visit is {state.status})"
            )
        return [VisitSteppedOut(visit_id=_id(state), missing=list(state.missing), at=command.at)]
    if state.status in WAITING:
        return _abandon(state, command.at)
    if state.status is Status.served:
        reason = LeftReason.served
    elif state.status is Status.away:
        reason = LeftReason.did_not_return
    else:
        reason = LeftReason.before_queue
    return [VisitLeft(visit_id=_id(state), reason=reason, at=command.at)]


def _queue(state: Visit, command: Queue) -> list[EventData]:
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


def _queued(state: Visit, ticket: str, day: date, at: datetime) -> VisitQueued:
    assert state.line is not None and state.service_type is not None
    return VisitQueued(
        visit_id=_id(state),
        line=state.line,
        ticket=ticket,
        service_type=state.service_type,
        day=day,
        priority=state.priority,
        at=at,
    )


def _call(state: Visit, command: Call) -> list[EventData]:
    if state.status in BEFORE_QUEUE:
        raise DomainError(f"the customer has no ticket yet (visit is {state.status})")
    if state.status is Status.served:
        raise DomainError("the customer was already served")
    if state.calls >= MAX_CALLS:
        raise DomainError(
            f"ticket {state.ticket} was called {state.calls} times: mark the visit as a no-show"
        )
    assert state.queued_at is not None and state.ticket is not None and state.line is not None
    return [
        VisitCalled(
            visit_id=_id(state),
            ticket=state.ticket,
            line=state.line,
            counter_id=command.counter_id,
            staff_id=command.staff_id,
            call_number=state.calls + 1,
            waited_seconds=_seconds(state.queued_at, command.at),
            at=command.at,
        )
    ]


def _serve(state: Visit, command: Serve) -> list[EventData]:
    if state.status is Status.served:
        raise DomainError("the customer was already served")
    if state.status is not Status.called:
        raise DomainError(f"call the customer to a counter before serving them (visit is {state.status})")
    if command.promised_by is not None and command.promised_by <= command.at:
        raise DomainError("promised_by must be a time in the future")
    assert state.service_type and state.counter_id and state.staff_id and state.last_called_at
    return [
        VisitServed(
            visit_id=_id(state),
            service_type=state.service_type,
            counter_id=state.counter_id,
            staff_id=state.staff_id,
            outcome=command.outcome,
            next_steps=command.next_steps,
            promised_by=command.promised_by,
            customer_ref=state.customer_ref,
            waited_seconds=state.waited_seconds or 0.0,
            line=state.line,
            service_seconds=_seconds(state.last_called_at, command.at),
            at=command.at,
        )
    ]


def _abandon(state: Visit, at: datetime) -> list[EventData]:
    assert state.queued_at is not None and state.ticket is not None and state.line is not None
    waited = _seconds(state.queued_at, state.first_called_at or at)
    return [
        VisitAbandoned(
            visit_id=_id(state), ticket=state.ticket, line=state.line, waited_seconds=waited, at=at
        ),
        VisitLeft(visit_id=_id(state), reason=LeftReason.abandoned, at=at),
    ]


def _no_show(state: Visit, command: MarkNoShow) -> list[EventData]:
    if state.status is not Status.called:
        raise DomainError(f"only a called customer can be a no-show (visit is {state.status})")
    if state.calls < MAX_CALLS:
        raise DomainError(f"called {state.calls} time(s) only: a no-show needs {MAX_CALLS} calls")
    assert state.ticket is not None and state.line is not None
    return [
        VisitNoShow(
            visit_id=_id(state), ticket=state.ticket, line=state.line, calls=state.calls, at=command.at
        ),
        VisitLeft(visit_id=_id(state), reason=LeftReason.no_show, at=command.at),
    ]


def _complaint(
    state: Visit, description: TextRef, at: datetime, customer_ref: str | None, *, from_need: bool
) -> ComplaintRaisedDuringVisit:
    if customer_ref and state.customer_ref and customer_ref != state.customer_ref:
        raise DomainError("the customer reference differs from the one recorded for this visit")
    ref = customer_ref or state.customer_ref
    if ref is None:
        raise DomainError(
            "a complaint needs the customer's reference (customer_ref) "
            "so the complaint service can reach them"
        )
    return ComplaintRaisedDuringVisit(
        visit_id=_id(state), customer_ref=ref, description=description, at=at, from_need=from_need
    )


def _prioritised(
    visit_id: UUID, priority: Priority | None, accessibility: Sequence[Accessibility], at: datetime
) -> VisitPrioritised:
    return VisitPrioritised(
        visit_id=visit_id, priority=priority, accessibility=list(dict.fromkeys(accessibility)), at=at
    )


# -------------------------------------------------------------------------------------- evolve


def evolve(state: Visit, event: EventData) -> Visit:
    match event:
        case VisitArrived():
            return replace(
                state,
                status=Status.arrived,
                visit_id=event.visit_id,
                arrival=event.arrival,
                returning=event.returning,
                customer_ref=event.customer_ref,
                display_name=event.display_name,
                arrived_at=event.at,
            )
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
        case SlaAtRisk():
            return replace(state, sla_status="breached" if state.sla_status == "breached" else "at_risk")
        case SlaBreached():
            return replace(state, sla_status="breached")
    # VisitAbandoned and VisitNoShow are always followed by VisitLeft, which ends the visit
    return state


def fold(events: Sequence[EventData], state: Visit | None = None) -> Visit:
    current = Visit() if state is None else state
    for event in events:
        current = evolve(current, event)
    return current


def _id(state: Visit) -> UUID:
    assert state.visit_id is not None
    return state.visit_id


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


visit_decider: Decider[Command, Visit] = Decider(Visit(), decide, evolve)


def stream_id(visit_id: UUID) -> str:
    return f"visit-{visit_id}"
