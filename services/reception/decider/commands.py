"""The visit's commands: what staff (and the SLA clock) ask of a visit; time arrives inside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from shared.contracts.reception import Accessibility, Priority, ServiceType
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef


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
class Moment:
    """A step that says no more than when it happened (its type says what happened)."""

    at: datetime


@dataclass(frozen=True)
class Leave(Moment):
    #: step out to fetch missing documents and come back (same visit)
    to_fetch_documents: bool = False


class Return(Moment):
    """The customer came back with the missing documents (same visit)."""


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


class Abandon(Moment):
    """The customer holding a ticket gave up waiting."""


class MarkNoShow(Moment):
    """Called three times, never came to the counter."""


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
