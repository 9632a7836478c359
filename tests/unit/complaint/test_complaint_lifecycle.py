"""The complaint decider, transition by transition: what is allowed, and what is refused and why.

Written as given / when / then (``tests.support.decider``): the case's past, the command, and the
events it records or the reason it is refused (nothing recorded).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from services.complaint import domain as d
from shared.contracts import complaint as ev
from shared.contracts.complaint import Channel, HoldKind, Level, Nature, Outcome, Urgency
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.decider import DomainError
from tests.support.decider import recorded
from tests.support.texts import ref
from tests.unit.complaint.complaint_given import (
    CID,
    DECIDER,
    S1,
    S2,
    T0,
    at,
    case_at,
    classify,
    new_case,
    path_to,
    propose,
    receive,
)

# ------------------------------------------------------------------------------- the main line


def test_full_lifecycle_emits_one_event_per_step() -> None:
    case = (
        new_case()
        .when(*path_to(d.Status.closed))
        .then(
            ev.ComplaintReceived,
            ev.ComplaintAcknowledged,
            ev.ComplaintClassified,
            ev.InvestigationStarted,
            ev.SolutionsProposed,
            ev.SolutionAccepted,
            ev.SolutionImplemented,
            ev.ComplaintAnswered,
            ev.ComplaintClosed,
        )
    )
    state = case.state
    assert state.status is d.Status.closed and not state.is_open
    assert state.acknowledged_at == at(2) and state.resolved_at == at(40) and state.closed_at == at(60)
    assert state.solution(S1).status is d.SolutionStatus.implemented  # type: ignore[union-attr]
    assert state.solution(S2).status is d.SolutionStatus.proposed  # type: ignore[union-attr]


def test_receive_twice_is_refused() -> None:
    case_at(d.Status.received).when(receive()).then_raises("already received")


def test_commands_on_a_case_that_does_not_exist_are_refused() -> None:
    new_case().when(d.Acknowledge(at(1))).then_raises("does not exist")
    new_case().when(d.Reopen(at(1), ref("again"))).then_raises("does not exist")


def test_an_in_branch_case_whose_visit_already_ended_records_the_departure() -> None:
    case = (
        new_case()
        .when(receive(Channel.in_branch, visit_id=uuid4(), customer_left_at=T0 - timedelta(minutes=5)))
        .then(ev.ComplaintReceived, ev.CustomerLeftBranch)
    )
    assert case.state.customer_left_at == T0  # never before the case existed


@pytest.mark.parametrize(
    ("status", "command", "reason"),
    [
        (d.Status.received, d.StartInvestigation(at(3)), "acknowledge the customer first"),
        (d.Status.received, classify(), "acknowledge the customer first"),
        (d.Status.received, propose(S1), "start the investigation first"),
        (d.Status.acknowledged, d.Acknowledge(at(3)), "already acknowledged"),
        (d.Status.acknowledged, d.StartInvestigation(at(3)), "classify it first"),
        (d.Status.classified, propose(S1), "start the investigation first"),
        (d.Status.investigating, d.StartInvestigation(at(11)), "already started"),
        (d.Status.investigating, d.AcceptSolution(at(11), S1), "not proposed"),
        (d.Status.investigating, d.ImplementSolution(at(11), S1), "not proposed"),
        (d.Status.investigating, d.Answer(at(11), ref("done")), "implement an accepted solution first"),
        (d.Status.investigating, d.Close(at(11), ref("done")), "answer the customer first"),
        (d.Status.solutions_proposed, d.ImplementSolution(at(25), S1), "has not accepted it"),
        (d.Status.solutions_proposed, propose(S1, t=25), "already proposed"),
        (d.Status.solution_accepted, d.AcceptSolution(at(35), S1), "already decided"),
        (d.Status.solution_accepted, propose(uuid4(), t=35), "implement it"),
        (d.Status.implemented, d.ImplementSolution(at(45), S1), "already implemented"),
        (d.Status.implemented, d.Answer(at(45), ref("x"), Outcome.not_upheld), "not upheld"),
        (d.Status.answered, d.Answer(at(55), ref("again")), "already answered"),
        (d.Status.answered, classify(t=55), "already has the answer"),
        (d.Status.answered, d.ExtendRegulatoryDeadline(at(55), ref("complex")), "already has the decision"),
        (d.Status.investigating, d.Reopen(at(11), ref("again")), "still open"),
    ],
)
def test_forbidden_transitions_are_refused_with_a_reason(
    status: d.Status, command: d.Command, reason: str
) -> None:
    case_at(status).when(command).then_raises(reason)


@pytest.mark.parametrize(
    "command",
    [
        d.Acknowledge(at(70)),
        classify(t=70),
        d.StartInvestigation(at(70)),
        propose(uuid4(), t=70),
        d.AcceptSolution(at(70), S2),
        d.RejectSolution(at(70), S2, ref("no")),
        d.ImplementSolution(at(70), S1),
        d.Answer(at(70), ref("x")),
        d.Close(at(70), ref("x")),
        d.Hold(at(70), ref("waiting")),
        d.Resume(at(70)),
        d.Escalate(at(70), ref("angry")),
        d.MergeIntoIncident(at(70), uuid4(), ref("outage")),
        d.GiveProgressUpdate(at(70), ref("still on it")),
        d.ExtendRegulatoryDeadline(at(70), ref("complex")),
        d.RecordCustomerLeft(at(70)),
        d.RecordSlaBreached(at(70), d.SlaFacts(uuid4(), d.RESOLVE_SLA, "default", T0, at(60))),
    ],
)
def test_a_closed_case_accepts_nothing_but_reopen(command: d.Command) -> None:
    case_at(d.Status.closed).when(command).then_raises("closed|already|only an in-branch")


# ------------------------------------------------------------------------------ solutions


def test_rejecting_every_solution_requires_a_new_proposal() -> None:
    case = (
        case_at(d.Status.solutions_proposed)
        .when(d.RejectSolution(at(25), S1, ref("too little")))
        .then(ev.SolutionRejected)
    )
    assert case.state.status is d.Status.solutions_proposed  # S2 is still on the table
    case = case.when(d.RejectSolution(at(26), S2, ref("not that either"))).then(ev.SolutionRejected)
    assert case.state.status is d.Status.solutions_rejected
    case.when(d.AcceptSolution(at(27), S1)).then_raises("already decided")
    case.when(d.Answer(at(27), ref("x"))).then_raises("implement an accepted solution first")
    s3 = uuid4()
    case = case.when(propose(s3, t=28, compensation="200.00")).then(ev.SolutionsProposed)
    assert case.state.status is d.Status.solutions_proposed
    case = case.when(d.AcceptSolution(at(29), s3), d.ImplementSolution(at(30), s3)).then(
        ev.SolutionAccepted, ev.SolutionImplemented
    )
    assert case.state.status is d.Status.implemented


def test_the_customer_may_accept_several_alternatives_and_reject_the_rest() -> None:
    s3 = uuid4()
    case = case_at(d.Status.investigating).when(propose(S1, S2, s3)).then(ev.SolutionsProposed)
    case = case.when(
        d.AcceptSolution(at(25), S1), d.RejectSolution(at(26), S2, ref("no")), d.AcceptSolution(at(27), s3)
    ).then(ev.SolutionAccepted, ev.SolutionRejected, ev.SolutionAccepted)
    assert case.state.status is d.Status.solution_accepted
    case = case.when(d.ImplementSolution(at(28), S1), d.ImplementSolution(at(29), s3)).then(
        ev.SolutionImplemented, ev.SolutionImplemented
    )
    assert {s.status for s in case.state.current_solutions()} == {
        d.SolutionStatus.implemented,
        d.SolutionStatus.rejected,
    }


def test_a_complaint_found_not_upheld_is_answered_without_a_solution() -> None:
    case = (
        case_at(d.Status.investigating)
        .when(d.Answer(at(30), ref("the fee is in the signed contract"), Outcome.not_upheld))
        .then(ev.ComplaintAnswered)
    )
    assert case.state.status is d.Status.answered and case.state.outcome is Outcome.not_upheld
    case = case.when(d.Close(at(40), ref("explained"))).then(ev.ComplaintClosed)
    assert case.state.status is d.Status.closed


def test_compensation_is_optional_and_bounded() -> None:
    when = case_at(d.Status.investigating).when(propose(S1, compensation="88.50"))
    when.then(ev.SolutionsProposed)
    (event,) = when.events
    assert isinstance(event, ev.SolutionsProposed) and str(event.solutions[0].compensation) == "88.50"
    with pytest.raises(ValueError):
        ev.ProposedSolution(solution_id=uuid4(), description=ref("x"), compensation=-1)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- escalation


def test_escalation_goes_up_one_level_at_a_time_and_never_down() -> None:
    case = case_at(d.Status.received)
    case.when(d.Escalate(at(1), ref("angry"), Level.hq_department)).then_raises("one level at a time")
    case.when(d.Escalate(at(1), ref("x"), Level.lobby_manager)).then_raises("never de-escalated")
    case = case.when(d.Escalate(at(1), ref("angry customer"))).then(ev.ComplaintEscalated)
    assert case.state.level is Level.branch_head
    case.when(d.Escalate(at(2), ref("x"), Level.lobby_manager)).then_raises("never de-escalated")
    case = case.when(d.Escalate(at(2), ref("press involved"), Level.hq_department)).then(
        ev.ComplaintEscalated
    )
    case.when(d.Escalate(at(3), ref("x"))).then_raises("highest level")


@pytest.mark.parametrize(
    ("nature", "urgency", "escalates"),
    [
        (Nature.general, Urgency.normal, False),
        (Nature.major, Urgency.normal, True),
        (Nature.general, Urgency.urgent, True),
        (Nature.major, Urgency.urgent, True),
        (Nature.malicious, Urgency.normal, False),
    ],
)
def test_major_or_urgent_classification_escalates_at_once(
    nature: Nature, urgency: Urgency, escalates: bool
) -> None:
    escalated = (ev.ComplaintEscalated,) if escalates else ()
    case = (
        case_at(d.Status.acknowledged)
        .when(classify(nature, urgency))
        .then(ev.ComplaintClassified, *escalated)
    )
    if escalates:
        (first,) = [e for e in case.history if isinstance(e, ev.ComplaintEscalated)]
        assert first.automatic and first.to_level is Level.branch_head
        # re-classifying the same case does not escalate it again
        case.when(classify(nature, urgency, 6)).then(ev.ComplaintClassified)


def test_automatic_escalation_can_be_switched_off() -> None:
    rules = d.ComplaintRules(escalate_on_major=False, escalate_on_urgent=False)
    case_at(d.Status.acknowledged, rules=rules).when(classify(Nature.major, Urgency.urgent)).then(
        ev.ComplaintClassified
    )


def test_a_breached_resolve_deadline_escalates_but_other_breaches_do_not() -> None:
    regulatory = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, at(100))
    case = case_at(d.Status.investigating).when(d.RecordSlaBreached(at(100), regulatory)).then(SlaBreached)
    resolve = d.SlaFacts(uuid4(), d.RESOLVE_SLA, "default", T0, at(200))
    case = case.when(d.RecordSlaBreached(at(200), resolve)).then(SlaBreached, ev.ComplaintEscalated)
    assert case.state.level is Level.branch_head
    case.when(d.RecordSlaBreached(at(201), resolve)).then_raises("already recorded")


def test_sla_milestones_are_recorded_once_each() -> None:
    facts = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, T0 + timedelta(days=15))
    when = case_at(d.Status.investigating).when(d.RecordSlaAtRisk(at(10), facts, 0.6667))
    case = when.then(SlaAtRisk)
    (first,) = when.events
    assert isinstance(first, SlaAtRisk) and first.subject_id == str(CID) and first.subject_type == "complaint"
    case = case.when(d.RecordSlaAtRisk(at(11), facts, 0.8)).then(
        SlaAtRisk
    )  # a second milestone of the same deadline
    case.when(d.RecordSlaAtRisk(at(12), facts, 0.8)).then_raises("already recorded")
    case.when(d.RecordSlaBreached(at(13), facts)).then(SlaBreached)


# ----------------------------------------------------------------------------- hold / resume


def test_hold_blocks_the_work_until_resumed() -> None:
    case = (
        case_at(d.Status.solutions_proposed)
        .when(d.Hold(at(25), ref("customer checks with family"), HoldKind.waiting_on_customer))
        .then(ev.ComplaintPutOnHold)
    )
    assert case.state.on_hold
    case.when(d.Hold(at(26), ref("again"))).then_raises("already on hold")
    case.when(d.AcceptSolution(at(26), S1)).then_raises("on hold .* resume it first")
    case = case.when(
        d.Escalate(at(26), ref("customer asked for the branch head")),  # still allowed
        d.GiveProgressUpdate(at(27), ref("we are waiting for your reply")),
        d.Resume(at(28), ref("customer called back")),
    ).then(ev.ComplaintEscalated, ev.ProgressUpdateGiven, ev.ComplaintResumed)
    case.when(d.Resume(at(29))).then_raises("not on hold")
    case.when(d.AcceptSolution(at(29), S1)).then(ev.SolutionAccepted)


def test_hold_needs_an_acknowledged_case() -> None:
    case_at(d.Status.received).when(d.Hold(at(1), ref("x"))).then_raises("acknowledge the customer first")


# -------------------------------------------------------------------------------- reopen


def test_reopen_within_30_days_starts_a_new_cycle_of_the_same_case() -> None:
    when = case_at(d.Status.closed).when(d.Reopen(at(60) + timedelta(days=29), ref("fee charged again")))
    case = when.then(ev.ComplaintReopened)
    (event,) = when.events
    assert isinstance(event, ev.ComplaintReopened) and event.cycle == 2
    state = case.state
    assert state.status is d.Status.reopened and state.cycle == 2 and state.is_open
    assert state.level is Level.lobby_manager and state.classification is not None
    # a new cycle: acknowledge again, the classification is kept, investigate, propose anew
    case = case.when(
        d.Acknowledge(at(60) + timedelta(days=29, minutes=5)),
        d.StartInvestigation(at(60) + timedelta(days=29, minutes=6)),
    ).then(ev.ComplaintAcknowledged, ev.InvestigationStarted)
    case.when(d.ImplementSolution(at(60) + timedelta(days=29, minutes=7), S1)).then_raises(
        "not proposed for this case"
    )
    assert case.state.current_solutions() == []


def test_reopen_after_30_days_is_refused() -> None:
    case_at(d.Status.closed).when(
        d.Reopen(at(60) + timedelta(days=30, seconds=1), ref("too late"))
    ).then_raises("more than 30 days ago; record a new complaint")


def test_a_failed_verification_reopens_a_closed_case_once() -> None:
    source = uuid4()
    when = case_at(d.Status.closed).when(d.HandleFailedVerification(at(90), ref("fee not refunded"), source))
    case = when.then(ev.ComplaintReopened)
    assert when.events[0].source_event_id == source  # type: ignore[attr-defined]
    case.when(d.HandleFailedVerification(at(91), ref("fee not refunded"), source)).then_raises("already")


def test_a_failed_verification_of_an_open_case_undoes_the_implementation() -> None:
    source = uuid4()
    case = (
        case_at(d.Status.answered)
        .when(d.HandleFailedVerification(at(90), ref("not refunded"), source))
        .then(ev.ComplaintCorrectionFailed)
    )
    assert case.state.status is d.Status.solution_accepted and case.state.resolved_at is None
    case.when(d.HandleFailedVerification(at(91), ref("not refunded"), source)).then_raises("already recorded")
    case.when(
        d.ImplementSolution(at(92), S1), d.Answer(at(93), ref("refunded now")), d.Close(at(94), ref("ok"))
    ).then(ev.SolutionImplemented, ev.ComplaintAnswered, ev.ComplaintClosed)


# ------------------------------------------------------------------------ regulatory / misc


def test_the_regulatory_deadline_extends_once_with_a_reason() -> None:
    when = case_at(d.Status.investigating).when(
        d.ExtendRegulatoryDeadline(at(30), ref("needs the card network's records"))
    )
    case = when.then(ev.RegulatoryDeadlineExtended)
    assert when.events[0].limit_days == 30  # type: ignore[attr-defined]
    case.when(d.ExtendRegulatoryDeadline(at(31), ref("more"))).then_raises("already extended to 30 days")


def test_no_extension_after_the_regulatory_limit_passed() -> None:
    facts = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, T0 + timedelta(days=15))
    case = (
        case_at(d.Status.investigating)
        .when(d.RecordSlaBreached(T0 + timedelta(days=15), facts))
        .then(SlaBreached)
    )
    case.when(d.ExtendRegulatoryDeadline(T0 + timedelta(days=16), ref("late"))).then_raises("already passed")


def test_a_major_complaint_closes_only_with_root_cause_and_remediation() -> None:
    case = case_at(d.Status.answered, Nature.major)
    case.when(d.Close(at(60), ref("done"))).then_raises("root cause")
    case.when(
        d.Close(at(60), ref("done"), root_cause=ref("ATM firmware"), remediation=ref("patch all ATMs"))
    ).then(ev.ComplaintClosed)


def test_merge_into_an_incident_once() -> None:
    incident = uuid4()
    case = (
        case_at(d.Status.investigating)
        .when(d.MergeIntoIncident(at(20), incident, ref("online banking outage")))
        .then(ev.ComplaintMergedIntoIncident)
    )
    assert case.state.incident_id == incident
    case.when(d.MergeIntoIncident(at(21), incident, ref("x"))).then_raises("already part of this incident")
    case.when(d.MergeIntoIncident(at(21), uuid4(), ref("x"))).then_raises("already part of incident")


def test_customer_left_only_for_in_branch_cases_and_once() -> None:
    case_at(d.Status.received).when(d.RecordCustomerLeft(at(1))).then_raises("only an in-branch")
    case = (
        new_case()
        .when(receive(Channel.in_branch), d.RecordCustomerLeft(at(3)))
        .then(ev.ComplaintReceived, ev.CustomerLeftBranch)
    )
    assert case.state.customer_left_at == at(3)
    case.when(d.RecordCustomerLeft(at(4))).then_raises("already recorded")


def test_replaying_the_events_gives_the_same_state() -> None:
    when = case_at(d.Status.closed).when(d.Reopen(at(100), ref("again")))
    case = when.then(ev.ComplaintReopened)
    assert (
        DECIDER.fold(recorded(DECIDER, *path_to(d.Status.closed), d.Reopen(at(100), ref("again"))))
        == when.state
    )
    assert case.state == when.state


def test_unknown_commands_are_refused() -> None:
    with pytest.raises(DomainError, match="unknown command"):
        DECIDER.decide(case_at(d.Status.received).state, object())  # type: ignore[arg-type]


def test_events_carry_the_case_id() -> None:
    assert all(getattr(e, "complaint_id", CID) == CID for e in case_at(d.Status.closed).history)
    assert S2 != S1
