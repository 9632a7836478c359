"""cn-2020 (银行业保险业消费投诉处理管理办法) as code: each rule, table-driven where dates matter."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from services.complaint import domain as d
from shared.contracts import complaint as ev
from shared.contracts.complaint import (
    Category,
    ClockBasis,
    HoldKind,
    Level,
    Nature,
    Outcome,
    RemediationAction,
    ReviewOutcome,
    Urgency,
)
from shared.contracts.sla import SlaAtRisk
from shared.decider import DomainError
from tests.support.texts import ref
from tests.unit.complaint.regulation_given import MATH, SHANGHAI, Case, local

R = local(SHANGHAI, 2026, 1, 20)  # Tuesday 10:00 in Shanghai
DAY = timedelta(days=1)


def after(days: float, start: datetime = R) -> datetime:
    return start + timedelta(days=days)


# ------------------------------------------------------------------------ the decision deadline

Step = tuple[str, float, float]  # (what, at day, until day)

DUE_CASES: list[tuple[str, datetime, list[Step], datetime]] = [
    ("15 days from receipt", R, [], local(SHANGHAI, 2026, 2, 4)),
    ("across the end of February", local(SHANGHAI, 2026, 2, 20), [], local(SHANGHAI, 2026, 3, 7)),
    # calendar days: the National Day holidays and the 调休 Saturday change nothing
    ("across National Day", local(SHANGHAI, 2026, 9, 28), [], local(SHANGHAI, 2026, 10, 13)),
    (
        "received late at night",
        local(SHANGHAI, 2026, 3, 31, 23, 30),
        [],
        local(SHANGHAI, 2026, 4, 15, 23, 30),
    ),
    ("extended to 30 days", R, [("extend", 3, 0)], local(SHANGHAI, 2026, 2, 19)),
    ("3 days of appraisal do not count", R, [("appraisal", 2, 5)], local(SHANGHAI, 2026, 2, 7)),
    (
        "appraisal of 2 days 4 hours, then extended",
        R,
        [("appraisal", 1, 3 + 4 / 24), ("extend", 6, 0)],
        local(SHANGHAI, 2026, 2, 21, 14),
    ),
    ("approved to 60 days", R, [("extend", 3, 0), ("approve", 20, 21)], local(SHANGHAI, 2026, 3, 21)),
    (
        "new facts on day 12 restart it",
        R,
        [("extend", 3, 0), ("new facts", 12, 0)],
        local(SHANGHAI, 2026, 2, 16),
    ),
]


@pytest.mark.parametrize(
    ("received", "steps", "due"), [c[1:] for c in DUE_CASES], ids=[c[0] for c in DUE_CASES]
)
def test_the_decision_deadline(received: datetime, steps: list[Step], due: datetime) -> None:
    case = Case.received(received)
    case.walk_to_investigating(after(0.01, received))
    for what, day, until in steps:
        at = after(day, received)
        match what:
            case "extend":
                case.run(d.ExtendRegulatoryDeadline(at, ref("needs the card network's records")))
            case "appraisal":
                case.run(d.Hold(at, ref("ATM cash count by the vendor"), HoldKind.external_appraisal))
                case.run(d.Resume(after(until, received), ref("count arrived")))
            case "approve":
                case.run(d.RequestExtension(at, ref("three banks involved"), "lm-007", uuid4()))
                case.run(d.DecideExtension(after(until, received), True, "head-001", ref("agreed")))
            case "new facts":
                case.run(d.RecordNewMaterial(at, ref("a second statement shows the fee again")))
    assert case.due() == due
    # the live deadline's duration arithmetic and the replay agree on it
    assert case.decider.fold(case.events) == case.state


def test_receipt_starts_the_decision_clock_with_its_rule() -> None:
    case = Case.received(R)
    (received,) = case.events
    assert isinstance(received, ev.ComplaintReceived) and received.regulatory_profile == "cn-2020"
    (clock,) = received.regulatory_clocks
    assert (clock.sla, clock.clock, clock.basis, clock.limit, clock.unit) == (
        "complaint.regulatory",
        "decision",
        ClockBasis.receipt,
        15,
        ev.LimitUnit.days,
    )
    assert clock.due_at == after(15) and "art. 21" in clock.citation and "15 days" in clock.rule
    assert clock.warnings == [pytest.approx(10 / 15)]  # day 10 of 15


def test_the_acknowledgement_states_the_timeline() -> None:
    case = Case.received(R)
    (ack,) = case.run(d.Acknowledge(after(0.01), ref("sorry")))
    assert isinstance(ack, ev.ComplaintAcknowledged)
    assert ack.expected_response_by == after(15) and "2026-02-04" in ack.timeline


# ---------------------------------------------------------------------------------- extensions


def test_the_first_extension_needs_a_reason_and_tells_the_complainant() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    (extended,) = case.run(d.ExtendRegulatoryDeadline(after(5), ref("needs the card network's records")))
    assert isinstance(extended, ev.RegulatoryDeadlineExtended)  # follow-up: a task to inform them
    assert (extended.limit_days, extended.extension, extended.due_at) == (30, 1, after(30))
    assert extended.reason == ref("needs the card network's records") and extended.approved_by is None


def test_a_second_extension_without_approval_keeps_30_days() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.ExtendRegulatoryDeadline(after(5), ref("complex")))
    case.refused(
        d.ExtendRegulatoryDeadline(after(6), ref("more")), "needs approval by higher-level management"
    )
    case.run(d.RequestExtension(after(20), ref("three banks involved"), "lm-007", uuid4()))
    assert case.due() == after(30)  # requested is not approved
    case.refused(d.RequestExtension(after(21), ref("again"), "lm-008", uuid4()), "still waiting")
    (denied,) = case.run(d.DecideExtension(after(22), False, "head-001", ref("not complex enough")))
    assert isinstance(denied, ev.ExtensionDenied) and denied.requested_by == "lm-007"
    assert case.due() == after(30) and case.clock().limit == 30


def test_the_requester_cannot_approve_or_deny_their_own_request() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.ExtendRegulatoryDeadline(after(5), ref("complex")))
    case.refused(d.DecideExtension(after(19), True, "head-001"), "no extension request")
    case.run(d.RequestExtension(after(20), ref("three banks involved"), "lm-007", uuid4()))
    case.refused(d.DecideExtension(after(21), True, "lm-007"), "requester cannot decide")
    case.refused(d.DecideExtension(after(21), False, "lm-007", ref("no")), "requester cannot decide")
    case.refused(d.DecideExtension(after(21), True, "anonymous"), "identified member of staff")
    approved, extended = case.run(d.DecideExtension(after(21), True, "head-001", ref("agreed")))
    assert isinstance(approved, ev.ExtensionApproved) and approved.approved_by == "head-001"
    assert isinstance(extended, ev.RegulatoryDeadlineExtended)
    assert (extended.limit_days, extended.extension) == (60, 2)
    assert (extended.requested_by, extended.approved_by) == ("lm-007", "head-001")
    assert extended.due_at == after(60) == case.due()
    case.refused(d.ExtendRegulatoryDeadline(after(22), ref("more")), "the most cn-2020 allows")
    case.refused(d.RequestExtension(after(22), ref("more"), "lm-007", uuid4()), "no approval step is left")


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (d.RequestExtension(after(2), ref("why"), "lm-007", uuid4()), "extend it with a reason"),
        (d.RequestExtension(after(2), ref("why"), "anonymous", uuid4()), "identified member of staff"),
        (d.ExtendRegulatoryDeadline(after(15, R) + timedelta(seconds=1), ref("late")), "already passed"),
    ],
)
def test_extensions_that_are_refused(command: d.Command, reason: str) -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.refused(command, reason)


def test_an_approval_after_the_30_day_limit_passed_is_refused() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.ExtendRegulatoryDeadline(after(5), ref("complex")))
    case.run(d.RequestExtension(after(28), ref("three banks involved"), "lm-007", uuid4()))
    case.refused(d.DecideExtension(after(30, R) + timedelta(minutes=1), True, "head-001"), "already passed")


def test_an_extension_while_waiting_on_an_appraisal() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.Hold(after(14), ref("vendor tests the ATM"), HoldKind.external_appraisal))
    case.run(d.ExtendRegulatoryDeadline(after(20), ref("appraisal takes long")))  # day 14 of 15 on the clock
    case.run(d.Resume(after(24)))
    assert case.due() == after(30 + 10)


# ------------------------------------------------------------------------------ appraisal time


def test_appraisal_time_does_not_count_and_the_complainant_is_told() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    (held,) = case.run(d.Hold(after(3), ref("ATM cash count by the vendor"), HoldKind.external_appraisal))
    assert isinstance(held, ev.ComplaintPutOnHold)
    assert held.inform_complainant and held.regulatory_clocks_paused == ["complaint.regulatory"]
    (resumed,) = case.run(d.Resume(after(7), ref("the count arrived")))
    assert isinstance(resumed, ev.ComplaintResumed)
    assert resumed.inform_complainant and resumed.regulatory_due_at == after(19) == case.due()


def test_waiting_on_the_customer_also_stops_the_clock_in_the_shipped_profile() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    (held,) = case.run(d.Hold(after(3), ref("customer looks for the receipt")))
    assert isinstance(held, ev.ComplaintPutOnHold) and not held.inform_complainant
    case.run(d.Resume(after(4)))
    assert case.due() == after(16)


# --------------------------------------------------------------------- repeats and new facts


def test_new_facts_restart_the_clock_from_the_day_they_arrive() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.ExtendRegulatoryDeadline(after(5), ref("complex")))
    (material,) = case.run(d.RecordNewMaterial(after(12), ref("a second statement shows the fee again")))
    assert isinstance(material, ev.NewMaterialReceived) and material.restarts_clock
    (clock,) = material.regulatory_clocks
    assert clock.basis is ClockBasis.new_facts and clock.started_at == after(12) and clock.limit == 15
    assert case.due() == after(27) and case.state.regulatory_extensions == 0
    (replaced,) = case.state.clocks.past
    assert replaced.outcome == "replaced" and replaced.limit == 30
    case.run(d.ExtendRegulatoryDeadline(after(13), ref("again complex")))  # a fresh clock may be extended
    assert case.due() == after(42)


def test_a_repeat_is_recorded_on_the_open_case_without_a_new_clock() -> None:
    case = Case.received(R, matter_key="card:****1234")
    case.walk_to_investigating(after(1))
    (repeat,) = case.run(
        d.RecordRepeat(
            after(3),
            ev.Channel.phone_hotline,
            "cust_ref_0001",
            ref("again the fee"),
            "card:****1234",
            "cn-bj-2",
        )
    )
    assert isinstance(repeat, ev.RepeatComplaintMerged) and repeat.regulatory_clocks == []
    assert case.due() == after(15) and case.state.repeats == 1
    (again,) = case.run(
        d.RecordRepeat(
            after(4), ev.Channel.app, "cust_ref_0001", ref("new proof"), "card:****1234", None, True
        )
    )
    assert (
        isinstance(again, ev.RepeatComplaintMerged)
        and again.regulatory_clocks[0].basis is ClockBasis.new_facts
    )
    assert case.due() == after(19)


def test_new_material_after_the_decision_goes_to_review() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.Answer(after(2), ref("the fee is in the tariff"), Outcome.not_upheld))
    case.refused(d.RecordNewMaterial(after(3), ref("x")), "review")


# ---------------------------------------------------------------------- recusal, collective


def test_the_staff_member_complained_about_cannot_handle_the_case() -> None:
    case = Case.received(R, about_staff=("teller-3",))
    case.refused(d.AssignHandler(after(0.1), "teller-3"), "recusal")
    (assigned,) = case.run(d.AssignHandler(after(0.1), "lm-007"))
    assert isinstance(assigned, ev.HandlerAssigned) and case.state.handler == "lm-007"
    case.refused(d.IdentifyStaff(after(0.2), ("lm-007",)), "assign another handler first")
    case.run(d.IdentifyStaff(after(0.2), ("teller-4",)))
    case.refused(d.AssignHandler(after(0.3), "teller-4"), "recusal")
    case.refused(d.IdentifyStaff(after(0.3), ("teller-4",)), "already recorded")


@pytest.mark.parametrize(("count", "allowed"), [(0, True), (1, True), (5, True), (6, False)])
def test_a_collective_complaint_records_at_most_5_representatives(count: int, allowed: bool) -> None:
    reps = tuple(f"cust_ref_{i:04d}" for i in range(count))
    if allowed:
        case = Case.received(R, collective=True, representatives=reps)
        assert case.state.representatives == reps and case.state.collective
    else:
        with pytest.raises(DomainError, match="at most 5"):
            Case.received(R, collective=True, representatives=reps)


# ---------------------------------------------------------------------------- close (溯源整改)


def _answered(nature: Nature = Nature.general) -> Case:
    case = Case.received(R)
    case.walk_to_investigating(after(1), nature)
    case.run(d.Answer(after(2), ref("the fee is in the tariff"), Outcome.not_upheld))
    return case


def action(days: float = 30, owner: str = "ops-lead") -> RemediationAction:
    return RemediationAction(
        action_id=uuid4(), description=ref("retrain on fee disclosure"), owner=owner, due_at=after(days)
    )


@pytest.mark.parametrize(
    ("nature", "at_fault", "close", "refusal"),
    [
        (Nature.major, None, {}, "root cause"),
        (
            Nature.major,
            None,
            {"root_cause": ref("rc"), "remediation": ref("fix")},
            "remediation actions, each with an owner",
        ),
        (
            Nature.major,
            None,
            {"root_cause": ref("rc"), "remediation_actions": (action(1.5),)},
            "not after the close",
        ),
        (Nature.general, True, {"root_cause": ref("rc")}, "bank was at fault"),
        (Nature.major, None, {"root_cause": ref("rc"), "remediation_actions": (action(),)}, None),
        (
            Nature.general,
            True,
            {"root_cause": ref("rc"), "remediation_actions": (action(), action(60, "it-lead"))},
            None,
        ),
        (Nature.general, False, {}, None),
        (Nature.general, None, {}, None),
    ],
)
def test_closing_needs_root_cause_and_remediation_actions(
    nature: Nature, at_fault: bool | None, close: dict[str, object], refusal: str | None
) -> None:
    case = _answered(nature)
    command = d.Close(after(3), ref("explained"), bank_at_fault=at_fault, **close)  # type: ignore[arg-type]
    if refusal:
        case.refused(command, refusal)
        return
    (closed,) = case.run(command)
    assert isinstance(closed, ev.ComplaintClosed) and closed.bank_at_fault == at_fault
    actions = close.get("remediation_actions", ())
    assert closed.remediation_actions == list(actions)  # type: ignore[arg-type]
    if actions:  # the actions travel as themselves; no free text is made up from their words
        assert closed.remediation is None


def test_codes_come_from_the_profile_code_tables() -> None:
    case = Case.received(R)
    case.run(d.Acknowledge(after(0.1)))
    bad = d.Classify(after(0.2), Category.other, Nature.general, "web", Urgency.normal, "crypto", None)
    case.refused(bad, "unknown business type code 'crypto'")
    case.refused(
        d.Classify(after(0.2), Category.other, Nature.general, "web", Urgency.normal, None, "bad_luck"),
        "cause",
    )
    (classified,) = case.run(
        d.Classify(
            after(0.2), Category.other, Nature.general, "web", Urgency.normal, "credit_card", "pricing_fees"
        )
    )
    assert isinstance(classified, ev.ComplaintClassified) and classified.business_type == "credit_card"
    case.refused(d.Close(after(1), ref("x"), cause_code="nope"), "answer the customer first")


# ------------------------------------------------------------------------------------- review


def _closed_after_decision() -> Case:
    case = _answered()
    case.run(d.Close(after(3), ref("explained")))
    return case


@pytest.mark.parametrize(("asked", "allowed"), [(1, True), (30, True), (30 + 1 / 86400, False), (45, False)])
def test_a_review_can_be_asked_within_30_days_of_the_decision(asked: float, allowed: bool) -> None:
    case = _closed_after_decision()
    decided = after(2)
    at = decided + timedelta(days=asked)
    if not allowed:
        case.refused(d.RequestReview(at, ref("the tariff was not shown to me")), "more than 30 days ago")
        return
    requested, escalated = case.run(d.RequestReview(at, ref("the tariff was not shown to me")))
    assert isinstance(requested, ev.ReviewRequested) and requested.decision_at == decided
    assert requested.reviewing_level is Level.branch_head and requested.cycle == 2
    assert isinstance(escalated, ev.ComplaintEscalated) and escalated.automatic
    (clock,) = requested.regulatory_clocks
    assert (clock.sla, clock.basis, clock.limit) == ("complaint.review", ClockBasis.review, 30)
    assert case.due("complaint.review") == at + 30 * DAY
    assert case.state.status is d.Status.under_review


def test_the_review_is_its_own_cycle_and_its_decision_is_final() -> None:
    case = _closed_after_decision()
    case.run(d.RequestReview(after(10), ref("the tariff was not shown to me")))
    case.refused(d.Reopen(after(11), ref("x")), "still open")
    case.refused(d.ProposeSolutions(after(11), ()), "reviewing the decision")
    case.run(
        d.Hold(after(11), ref("branch CCTV to the vendor"), HoldKind.external_appraisal), d.Resume(after(13))
    )
    assert case.due("complaint.review") == after(42)
    (decided,) = case.run(d.DecideReview(after(20), ReviewOutcome.decision_changed, ref("fee refunded")))
    assert isinstance(decided, ev.ReviewDecided) and decided.cycle == 2
    (outcome,) = decided.regulatory_outcomes
    assert outcome.sla == "complaint.review" and outcome.within_limit and outcome.counted_days == 8
    assert (
        case.state.status is d.Status.answered and case.state.review_outcome is ReviewOutcome.decision_changed
    )
    case.run(d.Close(after(21), ref("refunded after review")))
    case.refused(d.RequestReview(after(22), ref("again")), "already reviewed")


def test_a_review_needs_a_decision() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.refused(d.RequestReview(after(2), ref("x")), "has none yet")
    case.refused(d.DecideReview(after(2), ReviewOutcome.original_upheld, ref("x")), "no review is under way")


# ----------------------------------------------------------------------------------- decision


def test_the_answer_meets_the_clock_and_says_how_much_of_it_was_used() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    case.run(d.Hold(after(2), ref("appraisal"), HoldKind.external_appraisal), d.Resume(after(5)))
    (answered,) = case.run(d.Answer(after(12), ref("the fee is in the tariff"), Outcome.not_upheld))
    assert isinstance(answered, ev.ComplaintAnswered)
    (outcome,) = answered.regulatory_outcomes
    assert (outcome.by, outcome.limit, outcome.counted_days, outcome.within_limit) == (
        "answer",
        15,
        9.0,
        True,
    )
    assert outcome.due_at == after(18) and not case.clock().is_open


def test_a_late_decision_is_recorded_as_late() -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    (answered,) = case.run(d.Answer(after(16), ref("late"), Outcome.not_upheld))
    assert isinstance(answered, ev.ComplaintAnswered) and not answered.regulatory_outcomes[0].within_limit


# ---------------------------------------------------------------------------------- milestones


def facts(case: Case, fraction: float) -> d.RecordSlaAtRisk:
    clock = case.clock()
    deadline = d.SlaFacts(uuid4(), clock.sla, clock.profile, clock.started_at, MATH.due(clock))
    return d.RecordSlaAtRisk(
        clock.started_at + (MATH.due(clock) - clock.started_at) * fraction, deadline, fraction
    )


@pytest.mark.parametrize(
    ("extend", "approve", "text"),
    [
        (False, False, "Day 10 of 15: decide, or extend to 30 days now"),
        (True, False, "Day 20 of 30: decide, or request approval for a further extension to 60 days now"),
        (True, True, "Day 40 of 60: decide now; no further extension is possible"),
    ],
)
def test_milestone_warnings_tell_the_branch_head_what_to_do(extend: bool, approve: bool, text: str) -> None:
    case = Case.received(R)
    case.walk_to_investigating(after(1))
    if extend:
        case.run(d.ExtendRegulatoryDeadline(after(2), ref("complex")))
    if approve:
        case.run(d.RequestExtension(after(3), ref("very complex"), "lm-007", uuid4()))
        case.run(d.DecideExtension(after(3), True, "head-001"))
    at_risk, milestone = case.run(facts(case, 0.666667))
    assert isinstance(at_risk, SlaAtRisk) and at_risk.policy == "cn-2020"
    assert isinstance(milestone, ev.RegulatoryMilestoneReached)
    assert milestone.action.startswith(text) and milestone.assignee_role is Level.branch_head
    assert milestone.due_at == case.due() and milestone.deadline_id == at_risk.deadline_id


def test_other_deadlines_at_risk_raise_no_regulatory_task() -> None:
    case = Case.received(R)
    deadline = d.SlaFacts(uuid4(), "complaint.acknowledge", "default", R, R + timedelta(minutes=30))
    assert [type(e) for e in case.run(d.RecordSlaAtRisk(R + timedelta(minutes=24), deadline, 0.8))] == [
        SlaAtRisk
    ]


def test_reopen_starts_a_fresh_decision_clock() -> None:
    case = _closed_after_decision()
    (reopened,) = case.run(d.Reopen(after(10), ref("verification failed")))
    assert isinstance(reopened, ev.ComplaintReopened)
    assert reopened.regulatory_clocks[0].basis is ClockBasis.reopen and case.due() == after(25)
