"""The visit page's buttons follow reception's decider, for every state a visit can reach."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.console.pages.desk import VISIT_STEPS, visit_steps
from services.reception import decider as v
from shared.auth import ACTIONS
from shared.contracts.reception import ServiceType
from shared.decider import DomainError
from tests.support.texts import rref

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
VID = UUID("00000000-0000-4000-8000-0000000000a1")


def view(state: v.Visit) -> dict[str, Any]:
    """The fields of GET /visits/{id} the page looks at."""
    return {
        "status": state.status.value,
        "required_materials": list(state.required_materials),
        "calls": state.calls,
        "customer_ref": state.customer_ref,
    }


def moves(required: tuple[str, ...], at: datetime) -> dict[str, Callable[[], v.Command]]:
    """Each page step as the command its form sends; ``check-documents-missing`` also explores the
    incomplete branch (same button, some boxes unticked)."""
    return {
        "greet": lambda: v.Greet(at=at),
        "confirm-need": lambda: v.ConfirmNeed(service_type=ServiceType.withdrawal, line="deposits", at=at),
        "guide": lambda: v.Guide(required_materials=required, at=at),
        "check-documents": lambda: v.CheckDocuments(missing=(), at=at),
        "check-documents-missing": lambda: v.CheckDocuments(missing=required[:1], at=at),
        "leave-fetch": lambda: v.Leave(at=at, to_fetch_documents=True),
        "return": lambda: v.Return(at=at),
        "queue": lambda: v.Queue(ticket="A001", day=date(2026, 3, 2), at=at),
        "call": lambda: v.Call(counter_id="C1", staff_id="cs-1", at=at),
        "serve": lambda: v.Serve(outcome=rref("done"), at=at),
        "no-show": lambda: v.MarkNoShow(at=at),
        "abandon": lambda: v.Abandon(at=at),
        "leave": lambda: v.Leave(at=at),
        # the page asks for the customer reference when the visit has none
        "raise-complaint": lambda: v.RaiseComplaint(
            description=rref("rude at the counter"), at=at, customer_ref="cust_ref_0001"
        ),
    }


def reachable(required: tuple[str, ...], depth: int = 12) -> list[v.Visit]:
    start = v.fold(v.decide(v.Visit(), v.Arrive(visit_id=VID, arrival="walk_in", at=T0)))
    seen: dict[tuple[object, ...], v.Visit] = {}
    frontier = [start]
    for level in range(depth):
        at = T0 + timedelta(minutes=level + 1)
        following = []
        for state in frontier:
            key = (state.status, state.calls, state.document_checks > 0, state.complaints > 0)
            if key in seen:
                continue
            seen[key] = state
            for make in moves(required, at).values():
                try:
                    following.append(v.fold(v.decide(state, make()), state))
                except DomainError:
                    continue
        frontier = following
    return list(seen.values())


def accepted(state: v.Visit, step: str, required: tuple[str, ...], at: datetime) -> bool:
    try:
        v.decide(state, moves(required, at)[step]())
    except DomainError:
        return False
    return True


@pytest.mark.parametrize("required", [("bank_card", "id_card"), ()], ids=["documents", "no-documents"])
def test_the_visit_page_offers_exactly_the_steps_the_decider_accepts(required: tuple[str, ...]) -> None:
    states = reachable(required)
    assert {s.status for s in states} >= {v.Status.queued, v.Status.called, v.Status.served, v.Status.left}
    for state in states:
        at = T0 + timedelta(hours=1)
        shown = set(visit_steps(view(state)))
        allowed = {step for step in VISIT_STEPS if accepted(state, step, required, at)}
        if state.status in v.WAITING:  # leaving with a ticket is the "abandon" button
            allowed.discard("leave")
        if not state.required_materials:  # nothing to check: the page goes straight to the ticket
            allowed.discard("check-documents")
        assert shown == allowed, (
            f"{state.status.value} (calls={state.calls}): page offers {sorted(shown - allowed)} "
            f"the decider refuses, misses {sorted(allowed - shown)}"
        )


def test_every_visit_step_is_an_action_of_the_permission_table() -> None:
    for step, (action, _, _) in VISIT_STEPS.items():
        assert action in ACTIONS, step
