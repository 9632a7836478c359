"""The visit's commands: what staff (and the SLA clock) ask of a visit; time arrives inside them.

Built by keyword only (``kw_only``): two fields of one type (a counter and a staff id, two texts)
cannot be swapped by position. Every step's time is its :class:`Moment`'s ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from shared.contracts.reception import Accessibility, Priority, ServiceType
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef


@dataclass(frozen=True, kw_only=True)
class Moment:
    """When a step happened; a step that says no more than that is a ``Moment`` itself (its type
    says what happened)."""

    at: datetime


@dataclass(frozen=True, kw_only=True)
class Express:
    """Ticket-machine / appointment fast path: need confirmed and queued at arrival."""

    service_type: ServiceType
    line: str
    ticket: str
    day: date
    notes: TextRef | None = None


@dataclass(frozen=True, kw_only=True)
class Arrive(Moment):
    visit_id: UUID
    arrival: str
    returning: bool = False
    customer_ref: str | None = None
    display_name: str | None = None
    relationship_manager: str | None = None
    priority: Priority | None = None
    accessibility: tuple[Accessibility, ...] = ()
    express: Express | None = None


@dataclass(frozen=True, kw_only=True)
class Greet(Moment):
    customer_ref: str | None = None
    priority: Priority | None = None
    accessibility: tuple[Accessibility, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ConfirmNeed(Moment):
    service_type: ServiceType
    line: str
    notes: TextRef | None = None


@dataclass(frozen=True, kw_only=True)
class Guide(Moment):
    required_materials: tuple[str, ...]
    notes: TextRef | None = None


@dataclass(frozen=True, kw_only=True)
class CheckDocuments(Moment):
    missing: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Leave(Moment):
    #: step out to fetch missing documents and come back (same visit)
    to_fetch_documents: bool = False


class Return(Moment):
    """The customer came back with the missing documents (same visit)."""


@dataclass(frozen=True, kw_only=True)
class Queue(Moment):
    ticket: str
    day: date


@dataclass(frozen=True, kw_only=True)
class Call(Moment):
    counter_id: str
    staff_id: str


@dataclass(frozen=True, kw_only=True)
class Serve(Moment):
    outcome: TextRef | None
    next_steps: TextRef | None = None
    promised_by: datetime | None = None


class Abandon(Moment):
    """The customer holding a ticket gave up waiting."""


class MarkNoShow(Moment):
    """Called three times, never came to the counter."""


@dataclass(frozen=True, kw_only=True)
class RaiseComplaint(Moment):
    description: TextRef
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
