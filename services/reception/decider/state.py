"""The visit's state: where a visit stands and what the decider needs to know of its past."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts.reception import Accessibility, LeftReason, Priority, ServiceType
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef

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
        return seconds_between(self.queued_at, self.first_called_at)


def id_of(state: Visit) -> UUID:
    assert state.visit_id is not None
    return state.visit_id


def sla_after(current: str | None, milestone: SlaAtRisk | SlaBreached) -> str:
    """A wait (or answer) SLA's status after a milestone: once breached, it stays breached."""
    return "breached" if isinstance(milestone, SlaBreached) or current == "breached" else "at_risk"


def seconds_between(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


def stream_id(visit_id: UUID) -> str:
    return f"visit-{visit_id}"
