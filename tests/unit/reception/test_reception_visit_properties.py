"""Whatever staff click, in whatever order: the visit's invariants hold (hypothesis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reception import decider as v
from shared.contracts.reception import ServiceType, VisitLeft, VisitQueued, VisitServed
from shared.decider import DomainError
from tests.support.texts import rref
from tests.unit.reception.reception_given import DAY, VISIT, at, visit

MATERIALS = ("bank_card", "id_card")


def commands(i: int) -> st.SearchStrategy[v.Command]:
    t = at(i)
    return st.one_of(
        st.just(v.Greet(at=t)),
        st.sampled_from([ServiceType.transfer, ServiceType.enquiry, ServiceType.complaint]).map(
            lambda s: v.ConfirmNeed(service_type=s, line="general", at=t, notes=rref("noted"))
        ),
        st.sampled_from([(), MATERIALS]).map(lambda m: v.Guide(required_materials=m, at=t)),
        st.sampled_from([(), ("id_card",)]).map(lambda m: v.CheckDocuments(missing=m, at=t)),
        st.booleans().map(lambda fetch: v.Leave(at=t, to_fetch_documents=fetch)),
        st.just(v.Return(at=t)),
        st.just(v.Queue(ticket=f"A{i:03d}", day=DAY, at=t)),
        st.sampled_from(["1", "2"]).map(lambda c: v.Call(counter_id=c, staff_id="s-1", at=t)),
        st.just(v.Serve(outcome=rref("done"), at=t)),
        st.just(v.Abandon(at=t)),
        st.just(v.MarkNoShow(at=t)),
        st.just(v.RaiseComplaint(description=rref("unhappy"), at=t)),
    )


def progress(state: v.Visit, i: int) -> v.Command:
    """The step a lobby manager would take next, so random sessions reach the deep states."""
    t = at(i)
    match state.status:
        case v.Status.arrived:
            return v.Greet(at=t)
        case v.Status.greeted:
            return v.ConfirmNeed(service_type=ServiceType.transfer, line="deposits", at=t)
        case v.Status.need_confirmed:
            return v.Guide(required_materials=MATERIALS, at=t)
        case v.Status.guided | v.Status.documents_incomplete:
            return v.CheckDocuments(missing=(), at=t)
        case v.Status.away:
            return v.Return(at=t)
        case v.Status.documents_complete:
            return v.Queue(ticket=f"A{i:03d}", day=DAY, at=t)
        case v.Status.queued:
            return v.Call(counter_id="1", staff_id="s-1", at=t)
        case v.Status.called:
            return v.Serve(outcome=rref("done"), at=t)
    return v.Leave(at=t)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_visit_invariants_hold_for_any_sequence_of_commands(data: st.DataObject) -> None:
    scenario = visit().after(
        v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0), customer_ref="cust_ref_00001")
    )
    steps = data.draw(st.integers(min_value=0, max_value=30), label="steps")
    for i in range(1, steps + 1):
        before = scenario.state
        if data.draw(st.integers(min_value=0, max_value=9), label="dice") < 6:
            command = progress(before, i)
        else:
            command = data.draw(commands(i), label="command")
        step = scenario.when(command)
        if step.error is not None:
            assert str(step.error)
            continue
        scenario = step.then(*step.events)
        state = step.state
        assert scenario.state == state  # replay gives the same state as deciding step by step
        # a ticket, once issued, never changes; calls never exceed three
        if before.ticket is not None:
            assert state.ticket == before.ticket
        assert state.calls <= v.MAX_CALLS
        # nothing happens after the visit ended
        assert before.status is not v.Status.left
    state = scenario.state
    kinds = [type(e) for e in scenario.history]
    assert kinds.count(VisitLeft) <= 1
    assert kinds.count(VisitServed) <= 1
    assert kinds.count(VisitQueued) <= 1
    if VisitLeft in kinds:
        assert kinds[-1] is VisitLeft and state.status is v.Status.left
    if VisitServed in kinds:
        assert kinds.index(VisitQueued) < kinds.index(VisitServed)
        assert state.left_reason in (None, "served")


@settings(max_examples=200, deadline=None)
@given(
    returning=st.booleans(),
    manager=st.sampled_from([None, "rm-1"]),
    service_type=st.sampled_from([None, ServiceType.deposit_demand, ServiceType.complaint]),
    notes=st.sampled_from([None, "card fee"]),
    started=st.booleans(),
    customer_ref=st.sampled_from([None, "cust_ref_0042"]),
)
def test_an_arrival_is_refused_by_check_arrival_exactly_when_the_decider_refuses_it(
    returning: bool,
    manager: str | None,
    service_type: ServiceType | None,
    notes: str | None,
    started: bool,
    customer_ref: str | None,
) -> None:
    """The ticket number is taken after ``check_arrival`` and before deciding: a refused arrival
    must never get past the check (it would take a number for nothing)."""
    express = None
    if service_type is not None:
        text = rref(notes) if notes else None
        express = v.Express(service_type=service_type, line="deposits", ticket="A001", day=DAY, notes=text)
    command = v.Arrive(
        visit_id=VISIT,
        arrival="walk_in",
        at=at(0),
        returning=returning,
        customer_ref=customer_ref,
        relationship_manager=manager,
        express=express,
    )
    state = v.Visit()
    if started:  # a visit that already arrived
        state = v.fold(v.decide(state, v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0))))
    try:
        v.check_arrival(state, command)
    except DomainError as checked:
        with pytest.raises(DomainError, match=re.escape(str(checked))):
            v.decide(state, command)
        return
    assert v.decide(state, command)
