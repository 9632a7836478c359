"""The visit's behaviour, given / when / then: what each step records and why a step is refused."""

from __future__ import annotations

import pytest

from services.reception import domain as v
from shared.contracts.reception import (
    Accessibility,
    ComplaintRaisedDuringVisit,
    LeftReason,
    Priority,
    ServiceType,
    VisitAbandoned,
    VisitCalled,
    VisitGuided,
    VisitLeft,
    VisitServed,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.decider import DomainError
from tests.support.texts import rref
from tests.unit.reception.reception_given import (
    AWAY,
    CALLED,
    CALLED3,
    COMPLETE,
    DAY,
    GREETED,
    GUIDED,
    INCOMPLETE,
    NEED,
    QUEUED,
    REF,
    SERVED,
    VISIT,
    arrived,
    at,
    called,
    given,
    types,
    when,
)


def run(history: list, *commands: v.Command) -> list:  # type: ignore[type-arg]
    events = list(history)
    for command in commands:
        events += when(events, command)
    return events


def test_a_whole_visit_from_door_to_door() -> None:
    events = run(
        [],
        v.Arrive(VISIT, "appointment", at(0), customer_ref=REF, display_name="王*"),
        v.Greet(at(1)),
        v.ConfirmNeed(ServiceType.deposit_time, "deposits", at(2), rref("3-year term")),
        v.Guide(("bank_card", "id_card"), at(3)),
        v.CheckDocuments((), at(4)),
        v.Queue("A012", DAY, at(5)),
        v.Call("3", "s-1", at(17)),
        v.Serve(rref("term deposit opened"), at(27), rref("certificate mailed"), at(60 * 24 * 3)),
        v.Leave(at(28)),
    )
    assert types(events) == [
        "VisitArrived", "VisitGreeted", "NeedConfirmed", "VisitGuided", "DocumentsChecked",
        "VisitQueued", "VisitCalled", "VisitServed", "VisitLeft",
    ]  # fmt: skip
    served = events[7]
    assert isinstance(served, VisitServed)
    assert served.waited_seconds == 12 * 60
    assert served.service_seconds == 10 * 60
    assert (served.counter_id, served.staff_id, served.customer_ref) == ("3", "s-1", REF)
    assert served.line == "deposits" and served.promised_by == at(60 * 24 * 3)
    state = given(events)
    assert state.status is v.Status.left and state.left_reason is LeftReason.served
    assert state.first_check_complete is True and state.ticket == "A012"


def test_returning_customer_with_relationship_manager_is_routed_to_them() -> None:
    events = when([], v.Arrive(VISIT, "walk_in", at(0), returning=True, relationship_manager="rm-7"))
    assert types(events) == ["VisitArrived", "VisitRoutedToRelationshipManager"]
    assert given(events).relationship_manager == "rm-7"


def test_a_new_customer_has_no_relationship_manager() -> None:
    with pytest.raises(DomainError, match="returning"):
        when([], v.Arrive(VISIT, "walk_in", at(0), relationship_manager="rm-7"))


def test_priority_and_accessibility_at_arrival_and_greeting_accumulate() -> None:
    events = run(
        [],
        v.Arrive(VISIT, "walk_in", at(0), priority=Priority.elderly, accessibility=(Accessibility.hearing,)),
        v.Greet(at(1), accessibility=(Accessibility.mobility, Accessibility.hearing)),
    )
    assert types(events) == ["VisitArrived", "VisitPrioritised", "VisitGreeted", "VisitPrioritised"]
    state = given(events)
    assert state.priority is Priority.elderly
    assert state.accessibility == (Accessibility.hearing, Accessibility.mobility)


def test_a_complaint_need_raises_a_complaint_for_the_complaint_service() -> None:
    events = when(
        GREETED, v.ConfirmNeed(ServiceType.complaint, "general", at(2), rref("waited an hour last week"))
    )
    assert types(events) == ["NeedConfirmed", "ComplaintRaisedDuringVisit"]
    complaint = events[1]
    assert isinstance(complaint, ComplaintRaisedDuringVisit)
    assert complaint.from_need and complaint.customer_ref == REF
    assert complaint.description == rref("waited an hour last week") and complaint.visit_id == VISIT


def test_a_complaint_need_without_description_is_refused() -> None:
    with pytest.raises(DomainError, match="description"):
        when(GREETED, v.ConfirmNeed(ServiceType.complaint, "general", at(2), None))


def test_a_complaint_can_be_raised_at_any_time_of_an_open_visit() -> None:
    for history in (GREETED, QUEUED, CALLED, SERVED):
        events = when(history, v.RaiseComplaint(rref("counter closed without notice"), at(20)))
        assert types(events) == ["ComplaintRaisedDuringVisit"]
        assert given([*history, *events]).complaints == 1


def test_a_complaint_needs_a_customer_reference() -> None:
    anonymous = [arrived(customer_ref=None)]
    with pytest.raises(DomainError, match="customer_ref"):
        when(anonymous, v.RaiseComplaint(rref("rude"), at(1)))
    events = when(anonymous, v.RaiseComplaint(rref("rude"), at(1), customer_ref="walkin_ref_9"))
    assert given([*anonymous, *events]).customer_ref == "walkin_ref_9"
    with pytest.raises(DomainError, match="differs"):
        when([arrived()], v.RaiseComplaint(rref("rude"), at(1), customer_ref="somebody_else"))


def test_missing_documents_fetched_and_returned_is_the_same_visit() -> None:
    events = run(
        INCOMPLETE,
        v.Leave(at(5), to_fetch_documents=True),
        v.Return(at(40)),
        v.CheckDocuments((), at(41)),
        v.Queue("A003", DAY, at(42)),
    )
    assert types(events[len(INCOMPLETE) :]) == [
        "VisitSteppedOut",
        "VisitReturned",
        "DocumentsChecked",
        "VisitQueued",
    ]
    state = given(events)
    assert state.document_checks == 2 and state.first_check_complete is False
    assert events[-2].attempt == 2  # type: ignore[attr-defined]


def test_only_required_materials_can_be_missing() -> None:
    with pytest.raises(DomainError, match="not required"):
        when(GUIDED, v.CheckDocuments(("passport",), at(4)))


def test_queueing_needs_the_documents_checked_unless_nothing_is_required() -> None:
    with pytest.raises(DomainError, match="check the documents"):
        when(GUIDED, v.Queue("A001", DAY, at(5)))
    with pytest.raises(DomainError, match="missing: id_card"):
        when(INCOMPLETE, v.Queue("A001", DAY, at(5)))
    with pytest.raises(DomainError, match="stepped out"):
        when(AWAY, v.Queue("A001", DAY, at(5)))
    enquiry = run(GREETED, v.ConfirmNeed(ServiceType.enquiry, "general", at(2)), v.Guide((), at(3)))
    assert types(when(enquiry, v.Queue("E001", DAY, at(4)))) == ["VisitQueued"]


def test_guidance_lists_the_required_materials() -> None:
    events = when(NEED, v.Guide(("bank_card", "id_card"), at(3), rref("bring the payee's details")))
    assert isinstance(events[0], VisitGuided) and events[0].required_materials == ["bank_card", "id_card"]


def test_a_changed_need_restarts_guidance_but_the_same_need_twice_is_refused() -> None:
    with pytest.raises(DomainError, match="already confirmed"):
        when(COMPLETE, v.ConfirmNeed(ServiceType.transfer, "deposits", at(6)))
    events = run(COMPLETE, v.ConfirmNeed(ServiceType.card_service, "accounts", at(6)))
    state = given(events)
    assert state.status is v.Status.need_confirmed and state.line == "accounts"
    assert state.required_materials == ()


def test_three_calls_then_no_show() -> None:
    with pytest.raises(DomainError, match="called 3 times"):
        when(CALLED3, v.Call("3", "s-1", at(20)))
    with pytest.raises(DomainError, match="needs 3 calls"):
        when([*QUEUED, *called(2)], v.MarkNoShow(at(20)))
    events = when(CALLED3, v.MarkNoShow(at(20)))
    assert types(events) == ["VisitNoShow", "VisitLeft"]
    assert isinstance(events[1], VisitLeft) and events[1].reason is LeftReason.no_show


def test_every_call_counts_and_the_wait_ends_at_the_first() -> None:
    events = [*QUEUED, *called(2)]
    state = given(events)
    assert state.calls == 2 and state.waited_seconds == 5 * 60  # queued at 5, first call at 10
    third = when(events, v.Call("5", "s-3", at(13)))
    assert isinstance(third[0], VisitCalled) and third[0].call_number == 3 and third[0].counter_id == "5"


def test_leaving_while_queued_is_an_abandonment() -> None:
    events = when(QUEUED, v.Leave(at(25)))
    assert types(events) == ["VisitAbandoned", "VisitLeft"]
    assert isinstance(events[0], VisitAbandoned) and events[0].waited_seconds == 20 * 60
    assert given([*QUEUED, *events]).left_reason is LeftReason.abandoned


def test_abandoning_after_being_called_counts_the_wait_to_the_first_call() -> None:
    events = when(CALLED, v.Abandon(at(25)))
    assert isinstance(events[0], VisitAbandoned) and events[0].waited_seconds == 5 * 60


@pytest.mark.parametrize(
    ("history", "reason"),
    [(GREETED, LeftReason.before_queue), (AWAY, LeftReason.did_not_return), (SERVED, LeftReason.served)],
)
def test_why_a_visit_ended(history: list, reason: LeftReason) -> None:  # type: ignore[type-arg]
    events = when(history, v.Leave(at(30)))
    assert types(events) == ["VisitLeft"] and events[0].reason is reason  # type: ignore[attr-defined]


def test_ticket_machine_arrival_confirms_the_need_and_queues_at_once() -> None:
    express = v.Express(ServiceType.deposit_demand, "deposits", "A007", DAY)
    events = when([], v.Arrive(VISIT, "walk_in", at(0), customer_ref=REF, express=express))
    assert types(events) == ["VisitArrived", "NeedConfirmed", "VisitQueued"]
    state = given(events)
    assert state.status is v.Status.queued and state.ticket == "A007" and state.first_check_complete is None


def test_ticket_machine_complaint_arrival_raises_the_complaint() -> None:
    express = v.Express(ServiceType.complaint, "general", "E001", DAY, rref("card swallowed by the ATM"))
    events = when([], v.Arrive(VISIT, "walk_in", at(0), customer_ref=REF, express=express))
    assert types(events) == ["VisitArrived", "NeedConfirmed", "ComplaintRaisedDuringVisit", "VisitQueued"]


def test_a_promise_must_lie_in_the_future() -> None:
    with pytest.raises(DomainError, match="future"):
        when(CALLED, v.Serve(rref("done"), at(20), rref("call back"), at(19)))


def test_greeting_cannot_swap_the_customer() -> None:
    with pytest.raises(DomainError, match="differs"):
        when([arrived()], v.Greet(at(1), customer_ref="another_customer"))


def test_wait_sla_status_follows_the_milestones() -> None:
    fields = {
        "deadline_id": VISIT, "sla": "reception.wait", "policy": "default", "subject_type": "visit",
        "subject_id": str(VISIT), "started_at": at(5), "due_at": at(35),
    }  # fmt: skip
    risk = SlaAtRisk(**fields, at=at(20), used_fraction=0.5)  # type: ignore[arg-type]
    breach = SlaBreached(**fields, at=at(35))  # type: ignore[arg-type]
    assert given(QUEUED).sla_status == "on_track"
    assert given([*QUEUED, risk]).sla_status == "at_risk"
    assert given([*QUEUED, risk, breach]).sla_status == "breached"
    assert given([*QUEUED, breach, risk]).sla_status == "breached"
