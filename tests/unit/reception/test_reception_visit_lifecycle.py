"""The visit's behaviour, given / when / then: what each step records and why a step is refused."""

from __future__ import annotations

import pytest

from services.reception import decider as v
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
    visit,
)


def test_a_whole_visit_from_door_to_door() -> None:
    done = visit().when(
        v.Arrive(visit_id=VISIT, arrival="appointment", at=at(0), customer_ref=REF, display_name="王*"),
        v.Greet(at=at(1)),
        v.ConfirmNeed(
            service_type=ServiceType.deposit_time, line="deposits", at=at(2), notes=rref("3-year term")
        ),
        v.Guide(required_materials=("bank_card", "id_card"), at=at(3)),
        v.CheckDocuments(missing=(), at=at(4)),
        v.Queue(ticket="A012", day=DAY, at=at(5)),
        v.Call(counter_id="3", staff_id="s-1", at=at(17)),
        v.Serve(
            outcome=rref("term deposit opened"),
            at=at(27),
            next_steps=rref("certificate mailed"),
            promised_by=at(60 * 24 * 3),
        ),
        v.Leave(at=at(28)),
    )
    done.then(
        VisitArrived, VisitGreeted, NeedConfirmed, VisitGuided, DocumentsChecked,
        VisitQueued, VisitCalled, VisitServed, VisitLeft,
    )  # fmt: skip
    served = done.events[7]
    assert isinstance(served, VisitServed)
    assert served.waited_seconds == 12 * 60
    assert served.service_seconds == 10 * 60
    assert (served.counter_id, served.staff_id, served.customer_ref) == ("3", "s-1", REF)
    assert served.line == "deposits" and served.promised_by == at(60 * 24 * 3)
    assert done.state.status is v.Status.left and done.state.left_reason is LeftReason.served
    assert done.state.first_check_complete is True and done.state.ticket == "A012"


def test_returning_customer_with_relationship_manager_is_routed_to_them() -> None:
    done = visit().when(
        v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0), returning=True, relationship_manager="rm-7")
    )
    done.then(VisitArrived, VisitRoutedToRelationshipManager)
    assert done.state.relationship_manager == "rm-7"


def test_a_new_customer_has_no_relationship_manager() -> None:
    visit().when(
        v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0), relationship_manager="rm-7")
    ).then_raises("returning")


def test_priority_and_accessibility_at_arrival_and_greeting_accumulate() -> None:
    done = visit().when(
        v.Arrive(
            visit_id=VISIT,
            arrival="walk_in",
            at=at(0),
            priority=Priority.elderly,
            accessibility=(Accessibility.hearing,),
        ),
        v.Greet(at=at(1), accessibility=(Accessibility.mobility, Accessibility.hearing)),
    )
    done.then(VisitArrived, VisitPrioritised, VisitGreeted, VisitPrioritised)
    assert done.state.priority is Priority.elderly
    assert done.state.accessibility == (Accessibility.hearing, Accessibility.mobility)


def test_a_complaint_need_raises_a_complaint_for_the_complaint_service() -> None:
    visit(*GREETED).when(
        v.ConfirmNeed(
            service_type=ServiceType.complaint,
            line="general",
            at=at(2),
            notes=rref("waited an hour last week"),
        )
    ).then(
        NeedConfirmed,
        ComplaintRaisedDuringVisit(
            visit_id=VISIT,
            customer_ref=REF,
            description=rref("waited an hour last week"),
            from_need=True,
            at=at(2),
        ),
    )


def test_a_complaint_need_without_description_is_refused() -> None:
    visit(*GREETED).when(
        v.ConfirmNeed(service_type=ServiceType.complaint, line="general", at=at(2), notes=None)
    ).then_raises("description")


def test_a_complaint_can_be_raised_at_any_time_of_an_open_visit() -> None:
    for history in (GREETED, QUEUED, CALLED, SERVED):
        after = visit(*history).when(
            v.RaiseComplaint(description=rref("counter closed without notice"), at=at(20))
        )
        assert after.then(ComplaintRaisedDuringVisit).state.complaints == 1


def test_a_complaint_needs_a_customer_reference() -> None:
    anonymous = visit(arrived(customer_ref=None))
    anonymous.when(v.RaiseComplaint(description=rref("rude"), at=at(1))).then_raises("customer_ref")
    named = anonymous.when(v.RaiseComplaint(description=rref("rude"), at=at(1), customer_ref="walkin_ref_9"))
    assert named.then(ComplaintRaisedDuringVisit).state.customer_ref == "walkin_ref_9"
    visit(arrived()).when(
        v.RaiseComplaint(description=rref("rude"), at=at(1), customer_ref="somebody_else")
    ).then_raises("differs")


def test_missing_documents_fetched_and_returned_is_the_same_visit() -> None:
    done = visit(*INCOMPLETE).when(
        v.Leave(at=at(5), to_fetch_documents=True),
        v.Return(at=at(40)),
        v.CheckDocuments(missing=(), at=at(41)),
        v.Queue(ticket="A003", day=DAY, at=at(42)),
    )
    done.then(VisitSteppedOut, VisitReturned, DocumentsChecked, VisitQueued)
    assert done.state.document_checks == 2 and done.state.first_check_complete is False
    assert done.events[-2].attempt == 2  # type: ignore[attr-defined]


def test_only_required_materials_can_be_missing() -> None:
    visit(*GUIDED).when(v.CheckDocuments(missing=("passport",), at=at(4))).then_raises("not required")


def test_queueing_needs_the_documents_checked_unless_nothing_is_required() -> None:
    visit(*GUIDED).when(v.Queue(ticket="A001", day=DAY, at=at(5))).then_raises("check the documents")
    visit(*INCOMPLETE).when(v.Queue(ticket="A001", day=DAY, at=at(5))).then_raises("missing: id_card")
    visit(*AWAY).when(v.Queue(ticket="A001", day=DAY, at=at(5))).then_raises("stepped out")
    enquiry = visit(*GREETED).after(
        v.ConfirmNeed(service_type=ServiceType.enquiry, line="general", at=at(2)),
        v.Guide(required_materials=(), at=at(3)),
    )
    enquiry.when(v.Queue(ticket="E001", day=DAY, at=at(4))).then(VisitQueued)


def test_guidance_lists_the_required_materials() -> None:
    visit(*NEED).when(
        v.Guide(
            required_materials=("bank_card", "id_card"), at=at(3), notes=rref("bring the payee's details")
        )
    ).then(
        VisitGuided(
            visit_id=VISIT,
            service_type=ServiceType.transfer,
            required_materials=["bank_card", "id_card"],
            notes=rref("bring the payee's details"),
            at=at(3),
        )
    )


def test_a_changed_need_restarts_guidance_but_the_same_need_twice_is_refused() -> None:
    complete = visit(*COMPLETE)
    complete.when(v.ConfirmNeed(service_type=ServiceType.transfer, line="deposits", at=at(6))).then_raises(
        "already confirmed"
    )
    state = (
        complete.when(v.ConfirmNeed(service_type=ServiceType.card_service, line="accounts", at=at(6)))
        .then(NeedConfirmed)
        .state
    )
    assert state.status is v.Status.need_confirmed and state.line == "accounts"
    assert state.required_materials == ()


def test_three_calls_then_no_show() -> None:
    visit(*CALLED3).when(v.Call(counter_id="3", staff_id="s-1", at=at(20))).then_raises("called 3 times")
    visit(*QUEUED, *called(2)).when(v.MarkNoShow(at=at(20))).then_raises("needs 3 calls")
    left = visit(*CALLED3).when(v.MarkNoShow(at=at(20))).then(VisitNoShow, VisitLeft)
    assert left.state.left_reason is LeftReason.no_show


def test_every_call_counts_and_the_wait_ends_at_the_first() -> None:
    twice = visit(*QUEUED, *called(2))
    assert twice.state.calls == 2 and twice.state.waited_seconds == 5 * 60  # queued at 5, first call at 10
    third = twice.when(v.Call(counter_id="5", staff_id="s-3", at=at(13))).then(VisitCalled)
    assert third.state.calls == 3 and third.state.counter_id == "5"


def test_leaving_while_queued_is_an_abandonment() -> None:
    done = visit(*QUEUED).when(v.Leave(at=at(25)))
    assert done.then(VisitAbandoned, VisitLeft).state.left_reason is LeftReason.abandoned
    assert isinstance(done.events[0], VisitAbandoned) and done.events[0].waited_seconds == 20 * 60


def test_abandoning_after_being_called_counts_the_wait_to_the_first_call() -> None:
    done = visit(*CALLED).when(v.Abandon(at=at(25)))
    done.then(VisitAbandoned, VisitLeft)
    assert isinstance(done.events[0], VisitAbandoned) and done.events[0].waited_seconds == 5 * 60


@pytest.mark.parametrize(
    ("history", "reason"),
    [(GREETED, LeftReason.before_queue), (AWAY, LeftReason.did_not_return), (SERVED, LeftReason.served)],
)
def test_why_a_visit_ended(history: list, reason: LeftReason) -> None:  # type: ignore[type-arg]
    assert visit(*history).when(v.Leave(at=at(30))).then(VisitLeft).state.left_reason is reason


def test_ticket_machine_arrival_confirms_the_need_and_queues_at_once() -> None:
    express = v.Express(service_type=ServiceType.deposit_demand, line="deposits", ticket="A007", day=DAY)
    done = visit().when(
        v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0), customer_ref=REF, express=express)
    )
    state = done.then(VisitArrived, NeedConfirmed, VisitQueued).state
    assert state.status is v.Status.queued and state.ticket == "A007" and state.first_check_complete is None


def test_ticket_machine_complaint_arrival_raises_the_complaint() -> None:
    express = v.Express(
        service_type=ServiceType.complaint,
        line="general",
        ticket="E001",
        day=DAY,
        notes=rref("card swallowed by the ATM"),
    )
    visit().when(
        v.Arrive(visit_id=VISIT, arrival="walk_in", at=at(0), customer_ref=REF, express=express)
    ).then(VisitArrived, NeedConfirmed, ComplaintRaisedDuringVisit, VisitQueued)


def test_a_promise_must_lie_in_the_future() -> None:
    visit(*CALLED).when(
        v.Serve(outcome=rref("done"), at=at(20), next_steps=rref("call back"), promised_by=at(19))
    ).then_raises("future")


def test_greeting_cannot_swap_the_customer() -> None:
    visit(arrived()).when(v.Greet(at=at(1), customer_ref="another_customer")).then_raises("differs")


def test_wait_sla_status_follows_the_milestones() -> None:
    fields = {
        "deadline_id": VISIT, "sla": "reception.wait", "policy": "default", "subject_type": "visit",
        "subject_id": str(VISIT), "started_at": at(5), "due_at": at(35),
    }  # fmt: skip
    risk = SlaAtRisk(**fields, at=at(20), used_fraction=0.5)  # type: ignore[arg-type]
    breach = SlaBreached(**fields, at=at(35))  # type: ignore[arg-type]
    assert visit(*QUEUED).state.sla_status == "on_track"
    assert visit(*QUEUED, risk).state.sla_status == "at_risk"
    assert visit(*QUEUED, risk, breach).state.sla_status == "breached"
    assert visit(*QUEUED, breach, risk).state.sla_status == "breached"
