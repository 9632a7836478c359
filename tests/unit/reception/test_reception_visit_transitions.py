"""Every visit command against every status: allowed ones emit events, the rest are refused
with a reason (DomainError → HTTP 409)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.reception import decider as v
from shared.contracts.reception import ServiceType
from shared.contracts.sla import SlaAtRisk
from tests.support.texts import rref
from tests.unit.reception.reception_given import DAY, HISTORIES, VISIT, at, visit

SLA = SlaAtRisk(
    deadline_id=VISIT,
    sla="reception.wait",
    policy="default",
    subject_type="visit",
    subject_id=str(VISIT),
    started_at=at(5),
    due_at=at(35),
    at=at(20),
    used_fraction=0.5,
)

COMMANDS: dict[str, Callable[[], v.Command]] = {
    "arrive": lambda: v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(30)),
    "greet": lambda: v.Greet(at=at(30)),
    "confirm_need": lambda: v.ConfirmNeed(service_type=ServiceType.withdrawal, line="deposits", at=at(30)),
    "guide": lambda: v.Guide(required_materials=("bank_card",), at=at(30)),
    "check_documents": lambda: v.CheckDocuments(missing=(), at=at(30)),
    "leave": lambda: v.Leave(at=at(30)),
    "step_out": lambda: v.Leave(at=at(30), to_fetch_documents=True),
    "return": lambda: v.Return(at=at(30)),
    "queue": lambda: v.Queue(ticket="A002", day=DAY, at=at(30)),
    "call": lambda: v.Call(counter_id="4", staff_id="s-2", at=at(30)),
    "serve": lambda: v.Serve(outcome=rref("done"), at=at(30)),
    "abandon": lambda: v.Abandon(at=at(30)),
    "no_show": lambda: v.MarkNoShow(at=at(30)),
    "raise_complaint": lambda: v.RaiseComplaint(description=rref("rude staff"), at=at(30)),
}

OPEN = {
    "arrived", "greeted", "need_confirmed", "guided", "documents_incomplete", "away",
    "documents_complete", "queued", "called", "called3", "served",
}  # fmt: skip

ALLOWED: dict[str, set[str]] = {
    "arrive": {"none"},
    "greet": {"arrived"},
    "confirm_need": {"greeted", "need_confirmed", "guided", "documents_incomplete", "documents_complete"},
    "guide": {"need_confirmed"},
    "check_documents": {"guided", "documents_incomplete"},
    "leave": OPEN,
    "step_out": {"documents_incomplete"},
    "return": {"away"},
    "queue": {"documents_complete"},
    "call": {"queued", "called"},
    "serve": {"called", "called3"},
    "abandon": {"queued", "called", "called3"},
    "no_show": {"called3"},
    "raise_complaint": OPEN,
}

CASES = [(status, name) for status in HISTORIES for name in COMMANDS]


@pytest.mark.parametrize(("status", "name"), CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_transition_matrix(status: str, name: str) -> None:
    step = visit(*HISTORIES[status]).when(COMMANDS[name]())
    if status in ALLOWED[name]:
        assert step.error is None, f"{name} from {status} refused: {step.error}"
        assert step.events, f"{name} from {status} emitted nothing"
    else:
        step.then_raises(".+")  # a refusal must say why


@pytest.mark.parametrize("status", list(HISTORIES))
def test_sla_milestone_recorded_only_while_queued(status: str) -> None:
    step = visit(*HISTORIES[status]).when(v.RecordSla(SLA))
    if status == "none":
        step.then_raises("has not started")
    elif status == "queued":
        step.then(SLA)
    else:
        step.then()


def test_the_matrix_covers_every_status_and_command() -> None:
    assert {s.value for s in v.Status} <= set(HISTORIES)
    assert set(ALLOWED) == set(COMMANDS)
