"""Every case view lists the steps its decider takes now, and the decider's reason for the others:
the buttons a client shows come from the same rules the commands are decided by."""

from __future__ import annotations

from datetime import timedelta

from services.complaint import domain as d
from services.complaint.decider import ComplaintDecider
from services.complaint.decider.steps import STEPS, StepAllowed, allowed_steps
from shared.contracts.complaint import RemediationAction
from tests.support.texts import ref
from tests.unit.complaint.complaint_given import at, case_at


def steps(case_state: d.Complaint, minutes: float = 100) -> dict[str, StepAllowed]:
    return {s.step: s for s in allowed_steps(ComplaintDecider().refusal, case_state, at(minutes))}


def allowed(case_state: d.Complaint, minutes: float = 100) -> set[str]:
    return {name for name, s in steps(case_state, minutes).items() if s.allowed}


def test_every_step_is_listed_with_a_reason_when_refused() -> None:
    listed = steps(case_at(d.Status.received).state)
    assert list(listed) == list(STEPS)
    assert listed["acknowledge"].allowed and listed["acknowledge"].reason is None
    assert not listed["close"].allowed and "answer the customer first" in (listed["close"].reason or "")
    assert "no solution is waiting" in (listed["accept"].reason or "")
    assert "no regulatory profile" in (listed["request-review"].reason or "")


def test_a_received_in_branch_case_is_acknowledged_first() -> None:
    assert allowed(case_at(d.Status.received).state) == {"acknowledge", "escalate", "merge", "extend"}


def test_the_answer_is_offered_whichever_outcome_fits() -> None:
    assert "answer" in allowed(case_at(d.Status.investigating).state)  # not upheld
    assert "answer" in allowed(case_at(d.Status.implemented).state)  # upheld
    assert "answer" not in allowed(case_at(d.Status.solution_accepted).state)


def test_a_case_on_hold_offers_resume_and_the_side_steps_only() -> None:
    held = case_at(d.Status.solutions_proposed).after(d.Hold(at(25), ref("waiting"))).state
    listed = steps(held)
    assert listed["resume"].allowed and not listed["hold"].allowed
    assert "on hold" in (listed["accept"].reason or "")
    assert {"accept", "reject", "propose"}.isdisjoint(allowed(held))


def test_a_closed_case_offers_reopen_only_within_30_days() -> None:
    closed = case_at(d.Status.closed).state
    assert allowed(closed, 60 + 29 * 24 * 60) == {"reopen"}
    late = steps(closed, 60 + 31 * 24 * 60)
    assert not late["reopen"].allowed and "more than 30 days" in (late["reopen"].reason or "")
    assert at(60) + timedelta(days=29) < at(60 + 30 * 24 * 60)


def test_the_close_probe_carries_a_valid_remediation_action() -> None:
    """The probe builds its action without validation (a view's cost): the values are valid."""
    [close] = STEPS["close"](case_at(d.Status.answered).state, at(100))
    assert isinstance(close, d.Close)
    [action] = close.remediation_actions
    assert RemediationAction.model_validate(action.model_dump()) == action
