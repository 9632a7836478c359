"""Whatever staff click, in whatever order: the visit's invariants hold (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reception import decider as v
from shared.contracts.reception import ServiceType, VisitLeft, VisitQueued, VisitServed
from tests.support.texts import rref
from tests.unit.reception.reception_given import DAY, VISIT, at, visit

MATERIALS = ("bank_card", "id_card")


def commands(i: int) -> st.SearchStrategy[v.Command]:
    t = at(i)
    return st.one_of(
        st.just(v.Greet(t)),
        st.sampled_from([ServiceType.transfer, ServiceType.enquiry, ServiceType.complaint]).map(
            lambda s: v.ConfirmNeed(s, "general", t, rref("noted"))
        ),
        st.sampled_from([(), MATERIALS]).map(lambda m: v.Guide(m, t)),
        st.sampled_from([(), ("id_card",)]).map(lambda m: v.CheckDocuments(m, t)),
        st.booleans().map(lambda fetch: v.Leave(t, fetch)),
        st.just(v.Return(t)),
        st.just(v.Queue(f"A{i:03d}", DAY, t)),
        st.sampled_from(["1", "2"]).map(lambda c: v.Call(c, "s-1", t)),
        st.just(v.Serve(rref("done"), t)),
        st.just(v.Abandon(t)),
        st.just(v.MarkNoShow(t)),
        st.just(v.RaiseComplaint(rref("unhappy"), t)),
    )


def progress(state: v.Visit, i: int) -> v.Command:
    """The step a lobby manager would take next, so random sessions reach the deep states."""
    t = at(i)
    match state.status:
        case v.Status.arrived:
            return v.Greet(t)
        case v.Status.greeted:
            return v.ConfirmNeed(ServiceType.transfer, "deposits", t)
        case v.Status.need_confirmed:
            return v.Guide(MATERIALS, t)
        case v.Status.guided | v.Status.documents_incomplete:
            return v.CheckDocuments((), t)
        case v.Status.away:
            return v.Return(t)
        case v.Status.documents_complete:
            return v.Queue(f"A{i:03d}", DAY, t)
        case v.Status.queued:
            return v.Call("1", "s-1", t)
        case v.Status.called:
            return v.Serve(rref("done"), t)
    return v.Leave(t)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_visit_invariants_hold_for_any_sequence_of_commands(data: st.DataObject) -> None:
    scenario = visit().after(v.Arrive(VISIT, "walk_in", at(0), customer_ref="cust_ref_00001"))
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
