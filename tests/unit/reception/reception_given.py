"""Given/when/then for the visit decider (``tests.support.decider``): canonical histories for
every status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from services.reception import decider as v
from shared.contracts.reception import (
    DocumentsChecked,
    LeftReason,
    NeedConfirmed,
    ServiceType,
    VisitArrived,
    VisitCalled,
    VisitGreeted,
    VisitGuided,
    VisitLeft,
    VisitQueued,
    VisitServed,
    VisitSteppedOut,
)
from shared.registry import EventData
from tests.support.decider import Scenario, given
from tests.support.texts import rref

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = date(2026, 3, 2)
VISIT = UUID("00000000-0000-0000-0000-00000000a001")
REF = "cust_ref_0001"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def arrived(**kw: object) -> VisitArrived:
    data: dict[str, object] = {"visit_id": VISIT, "arrival": "walk_in", "customer_ref": REF, "at": at(0)}
    return VisitArrived(**(data | kw))  # type: ignore[arg-type]


BASE: list[EventData] = [arrived()]
GREETED = [*BASE, VisitGreeted(visit_id=VISIT, at=at(1))]
NEED = [
    *GREETED,
    NeedConfirmed(visit_id=VISIT, service_type=ServiceType.transfer, line="deposits", notes=None, at=at(2)),
]
GUIDED = [
    *NEED,
    VisitGuided(
        visit_id=VISIT,
        service_type=ServiceType.transfer,
        required_materials=["bank_card", "id_card"],
        at=at(3),
    ),
]
INCOMPLETE = [
    *GUIDED,
    DocumentsChecked(visit_id=VISIT, complete=False, missing=["id_card"], attempt=1, at=at(4)),
]
AWAY = [*INCOMPLETE, VisitSteppedOut(visit_id=VISIT, missing=["id_card"], at=at(5))]
COMPLETE = [*GUIDED, DocumentsChecked(visit_id=VISIT, complete=True, missing=[], attempt=1, at=at(4))]
QUEUED = [
    *COMPLETE,
    VisitQueued(
        visit_id=VISIT, line="deposits", ticket="A001", service_type=ServiceType.transfer, day=DAY, at=at(5)
    ),
]


def called(n: int, start: float = 10) -> list[EventData]:
    return [
        VisitCalled(
            visit_id=VISIT,
            ticket="A001",
            line="deposits",
            counter_id="3",
            staff_id="s-1",
            call_number=i,
            waited_seconds=(start + i - 1 - 5) * 60,
            at=at(start + i - 1),
        )
        for i in range(1, n + 1)
    ]


CALLED = [*QUEUED, *called(1)]
CALLED3 = [*QUEUED, *called(3)]
SERVED = [
    *CALLED,
    VisitServed(
        visit_id=VISIT,
        service_type=ServiceType.transfer,
        counter_id="3",
        staff_id="s-1",
        outcome=rref("done"),
        waited_seconds=300,
        at=at(15),
    ),
]
LEFT = [*SERVED, VisitLeft(visit_id=VISIT, reason=LeftReason.served, at=at(16))]

HISTORIES: dict[str, list[EventData]] = {
    "none": [],
    "arrived": BASE,
    "greeted": GREETED,
    "need_confirmed": NEED,
    "guided": GUIDED,
    "documents_incomplete": INCOMPLETE,
    "away": AWAY,
    "documents_complete": COMPLETE,
    "queued": QUEUED,
    "called": CALLED,
    "called3": CALLED3,
    "served": SERVED,
    "left": LEFT,
}


def visit(*events: EventData) -> Scenario[v.Command, v.Visit]:
    """A visit whose past is ``events``: ``visit(*QUEUED).when(command).then(...)``."""
    return given(v.visit_decider, *events)
