"""The complaint decider, transition by transition: what is allowed, and what is refused and why."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from services.complaint import domain as d
from shared.contracts import complaint as ev
from shared.contracts.complaint import Channel, HoldKind, Level, Nature, Outcome, Urgency
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.decider import DomainError
from tests.support.texts import ref
from tests.unit.complaint.complaint_given import (
    CID,
    S1,
    S2,
    T0,
    Case,
    at,
    classify,
    path_to,
    propose,
    receive,
)


def refused(case: Case, command: d.Command, reason: str) -> None:
    """The command raises DomainError mentioning ``reason`` and records nothing."""
    before, count = case.state, len(case.events)
    with pytest.raises(DomainError, match=reason):
        case.run(command)
    assert case.state == before and len(case.events) == count


def types(events: object) -> list[str]:
    return [type(e).__name__ for e in events]  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------- the main line


def test_full_lifecycle_emits_one_event_per_step() -> None:
    case = Case()
    case.run(*path_to(d.Status.closed))
    assert types(case.events) == [
        "ComplaintReceived",
        "ComplaintAcknowledged",
        "ComplaintClassified",
        "InvestigationStarted",
        "SolutionsProposed",
        "SolutionAccepted",
        "SolutionImplemented",
        "ComplaintAnswered",
        "ComplaintClosed",
    ]
    state = case.state
    assert state.status is d.Status.closed and not state.is_open
    assert state.acknowledged_at == at(2) and state.resolved_at == at(40) and state.closed_at == at(60)
    assert state.solution(S1).status is d.SolutionStatus.implemented  # type: ignore[union-attr]
    assert state.solution(S2).status is d.SolutionStatus.proposed  # type: ignore[union-attr]


def test_receive_twice_is_refused() -> None:
    case = Case()
    case.run(receive())
    refused(case, receive(), "already received")


def test_commands_on_a_case_that_does_not_exist_are_refused() -> None:
    refused(Case(), d.Acknowledge(at(1)), "does not exist")
    refused(Case(), d.Reopen(at(1), ref("again")), "does not exist")


def test_an_in_branch_case_whose_visit_already_ended_records_the_departure() -> None:
    case = Case()
    events = case.run(
        receive(Channel.in_branch, visit_id=uuid4(), customer_left_at=T0 - timedelta(minutes=5))
    )
    assert types(events) == ["ComplaintReceived", "CustomerLeftBranch"]
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
    refused(Case.at_status(status), command, reason)


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
    refused(Case.at_status(d.Status.closed), command, "closed|already|only an in-branch")


# ------------------------------------------------------------------------------ solutions


def test_rejecting_every_solution_requires_a_new_proposal() -> None:
    case = Case.at_status(d.Status.solutions_proposed)
    case.run(d.RejectSolution(at(25), S1, ref("too little")))
    assert case.state.status is d.Status.solutions_proposed  # S2 is still on the table
    case.run(d.RejectSolution(at(26), S2, ref("not that either")))
    assert case.state.status is d.Status.solutions_rejected
    refused(case, d.AcceptSolution(at(27), S1), "already decided")
    refused(case, d.Answer(at(27), ref("x")), "implement an accepted solution first")
    s3 = uuid4()
    case.run(propose(s3, t=28, compensation="200.00"))
    assert case.state.status is d.Status.solutions_proposed
    case.run(d.AcceptSolution(at(29), s3), d.ImplementSolution(at(30), s3))
    assert case.state.status is d.Status.implemented


def test_the_customer_may_accept_several_alternatives_and_reject_the_rest() -> None:
    s3 = uuid4()
    case = Case.at_status(d.Status.investigating)
    case.run(propose(S1, S2, s3))
    case.run(
        d.AcceptSolution(at(25), S1), d.RejectSolution(at(26), S2, ref("no")), d.AcceptSolution(at(27), s3)
    )
    assert case.state.status is d.Status.solution_accepted
    case.run(d.ImplementSolution(at(28), S1), d.ImplementSolution(at(29), s3))
    assert {s.status for s in case.state.current_solutions()} == {
        d.SolutionStatus.implemented,
        d.SolutionStatus.rejected,
    }


def test_a_complaint_found_not_upheld_is_answered_without_a_solution() -> None:
    case = Case.at_status(d.Status.investigating)
    case.run(d.Answer(at(30), ref("the fee is in the signed contract"), Outcome.not_upheld))
    assert case.state.status is d.Status.answered and case.state.outcome is Outcome.not_upheld
    case.run(d.Close(at(40), ref("explained")))
    assert case.state.status is d.Status.closed


def test_compensation_is_optional_and_bounded() -> None:
    case = Case.at_status(d.Status.investigating)
    (event,) = case.run(propose(S1, compensation="88.50"))
    assert isinstance(event, ev.SolutionsProposed) and str(event.solutions[0].compensation) == "88.50"
    with pytest.raises(ValueError):
        ev.ProposedSolution(solution_id=uuid4(), description=ref("x"), compensation=-1)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- escalation


def test_escalation_goes_up_one_level_at_a_time_and_never_down() -> None:
    case = Case.at_status(d.Status.received)
    refused(case, d.Escalate(at(1), ref("angry"), Level.hq_department), "one level at a time")
    refused(case, d.Escalate(at(1), ref("x"), Level.lobby_manager), "never de-escalated")
    case.run(d.Escalate(at(1), ref("angry customer")))
    assert case.state.level is Level.branch_head
    refused(case, d.Escalate(at(2), ref("x"), Level.lobby_manager), "never de-escalated")
    case.run(d.Escalate(at(2), ref("press involved"), Level.hq_department))
    refused(case, d.Escalate(at(3), ref("x")), "highest level")


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
    case = Case.at_status(d.Status.acknowledged)
    events = case.run(classify(nature, urgency))
    escalations = [e for e in events if isinstance(e, ev.ComplaintEscalated)]
    assert len(escalations) == (1 if escalates else 0)
    if escalates:
        assert escalations[0].automatic and escalations[0].to_level is Level.branch_head
        # re-classifying the same case does not escalate it again
        assert not any(isinstance(e, ev.ComplaintEscalated) for e in case.run(classify(nature, urgency, 6)))


def test_automatic_escalation_can_be_switched_off() -> None:
    case = Case(d.ComplaintRules(escalate_on_major=False, escalate_on_urgent=False))
    case.run(*path_to(d.Status.acknowledged))
    assert types(case.run(classify(Nature.major, Urgency.urgent))) == ["ComplaintClassified"]


def test_a_breached_resolve_deadline_escalates_but_other_breaches_do_not() -> None:
    case = Case.at_status(d.Status.investigating)
    regulatory = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, at(100))
    assert types(case.run(d.RecordSlaBreached(at(100), regulatory))) == ["SlaBreached"]
    resolve = d.SlaFacts(uuid4(), d.RESOLVE_SLA, "default", T0, at(200))
    events = case.run(d.RecordSlaBreached(at(200), resolve))
    assert types(events) == ["SlaBreached", "ComplaintEscalated"]
    assert case.state.level is Level.branch_head
    refused(case, d.RecordSlaBreached(at(201), resolve), "already recorded")


def test_sla_milestones_are_recorded_once_each() -> None:
    case = Case.at_status(d.Status.investigating)
    facts = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, T0 + timedelta(days=15))
    (first,) = case.run(d.RecordSlaAtRisk(at(10), facts, 0.6667))
    assert isinstance(first, SlaAtRisk) and first.subject_id == str(CID) and first.subject_type == "complaint"
    case.run(d.RecordSlaAtRisk(at(11), facts, 0.8))  # a second milestone of the same deadline
    refused(case, d.RecordSlaAtRisk(at(12), facts, 0.8), "already recorded")
    (breach,) = case.run(d.RecordSlaBreached(at(13), facts))
    assert isinstance(breach, SlaBreached)


# ----------------------------------------------------------------------------- hold / resume


def test_hold_blocks_the_work_until_resumed() -> None:
    case = Case.at_status(d.Status.solutions_proposed)
    case.run(d.Hold(at(25), ref("customer checks with family"), HoldKind.waiting_on_customer))
    assert case.state.on_hold
    refused(case, d.Hold(at(26), ref("again")), "already on hold")
    refused(case, d.AcceptSolution(at(26), S1), "on hold .* resume it first")
    case.run(d.Escalate(at(26), ref("customer asked for the branch head")))  # still allowed
    case.run(d.GiveProgressUpdate(at(27), ref("we are waiting for your reply")))
    case.run(d.Resume(at(28), ref("customer called back")))
    refused(case, d.Resume(at(29)), "not on hold")
    case.run(d.AcceptSolution(at(29), S1))


def test_hold_needs_an_acknowledged_case() -> None:
    refused(Case.at_status(d.Status.received), d.Hold(at(1), ref("x")), "acknowledge the customer first")


# -------------------------------------------------------------------------------- reopen


def test_reopen_within_30_days_starts_a_new_cycle_of_the_same_case() -> None:
    case = Case.at_status(d.Status.closed)
    (event,) = case.run(d.Reopen(at(60) + timedelta(days=29), ref("fee charged again")))
    assert isinstance(event, ev.ComplaintReopened) and event.cycle == 2
    state = case.state
    assert state.status is d.Status.reopened and state.cycle == 2 and state.is_open
    assert state.level is Level.lobby_manager and state.classification is not None
    # a new cycle: acknowledge again, the classification is kept, investigate, propose anew
    case.run(d.Acknowledge(at(60) + timedelta(days=29, minutes=5)))
    case.run(d.StartInvestigation(at(60) + timedelta(days=29, minutes=6)))
    refused(
        case, d.ImplementSolution(at(60) + timedelta(days=29, minutes=7), S1), "not proposed for this case"
    )
    assert case.state.current_solutions() == []


def test_reopen_after_30_days_is_refused() -> None:
    refused(
        Case.at_status(d.Status.closed),
        d.Reopen(at(60) + timedelta(days=30, seconds=1), ref("too late")),
        "more than 30 days ago; record a new complaint",
    )


def test_a_failed_verification_reopens_a_closed_case_once() -> None:
    case = Case.at_status(d.Status.closed)
    source = uuid4()
    (event,) = case.run(d.HandleFailedVerification(at(90), ref("fee not refunded"), source))
    assert isinstance(event, ev.ComplaintReopened) and event.source_event_id == source
    refused(case, d.HandleFailedVerification(at(91), ref("fee not refunded"), source), "already")


def test_a_failed_verification_of_an_open_case_undoes_the_implementation() -> None:
    case = Case.at_status(d.Status.answered)
    source = uuid4()
    (event,) = case.run(d.HandleFailedVerification(at(90), ref("not refunded"), source))
    assert isinstance(event, ev.ComplaintCorrectionFailed)
    assert case.state.status is d.Status.solution_accepted and case.state.resolved_at is None
    refused(case, d.HandleFailedVerification(at(91), ref("not refunded"), source), "already recorded")
    case.run(
        d.ImplementSolution(at(92), S1), d.Answer(at(93), ref("refunded now")), d.Close(at(94), ref("ok"))
    )


# ------------------------------------------------------------------------ regulatory / misc


def test_the_regulatory_deadline_extends_once_with_a_reason() -> None:
    case = Case.at_status(d.Status.investigating)
    (event,) = case.run(d.ExtendRegulatoryDeadline(at(30), ref("needs the card network's records")))
    assert isinstance(event, ev.RegulatoryDeadlineExtended) and event.limit_days == 30
    refused(case, d.ExtendRegulatoryDeadline(at(31), ref("more")), "already extended to 30 days")


def test_no_extension_after_the_regulatory_limit_passed() -> None:
    case = Case.at_status(d.Status.investigating)
    facts = d.SlaFacts(uuid4(), d.REGULATORY_SLA, "default", T0, T0 + timedelta(days=15))
    case.run(d.RecordSlaBreached(T0 + timedelta(days=15), facts))
    refused(case, d.ExtendRegulatoryDeadline(T0 + timedelta(days=16), ref("late")), "already passed")


def test_a_major_complaint_closes_only_with_root_cause_and_remediation() -> None:
    case = Case()
    case.run(*path_to(d.Status.answered, Nature.major))
    refused(case, d.Close(at(60), ref("done")), "root cause")
    case.run(d.Close(at(60), ref("done"), root_cause=ref("ATM firmware"), remediation=ref("patch all ATMs")))


def test_merge_into_an_incident_once() -> None:
    case = Case.at_status(d.Status.investigating)
    incident = uuid4()
    case.run(d.MergeIntoIncident(at(20), incident, ref("online banking outage")))
    assert case.state.incident_id == incident
    refused(case, d.MergeIntoIncident(at(21), incident, ref("x")), "already part of this incident")
    refused(case, d.MergeIntoIncident(at(21), uuid4(), ref("x")), "already part of incident")


def test_customer_left_only_for_in_branch_cases_and_once() -> None:
    refused(Case.at_status(d.Status.received), d.RecordCustomerLeft(at(1)), "only an in-branch")
    case = Case()
    case.run(receive(Channel.in_branch))
    case.run(d.RecordCustomerLeft(at(3)))
    assert case.state.customer_left_at == at(3)
    refused(case, d.RecordCustomerLeft(at(4)), "already recorded")


def test_replaying_the_events_gives_the_same_state() -> None:
    case = Case.at_status(d.Status.closed)
    case.run(d.Reopen(at(100), ref("again")))
    assert case.decider.fold(case.events) == case.state


def test_unknown_commands_are_refused() -> None:
    case = Case.at_status(d.Status.received)
    with pytest.raises(DomainError, match="unknown command"):
        case.decider.decide(case.state, object())  # type: ignore[arg-type]


def test_events_carry_the_case_id() -> None:
    case = Case.at_status(d.Status.closed)
    assert all(getattr(e, "complaint_id", CID) == CID for e in case.events)
    assert S2 != S1
