"""The task-creating rules: which event makes which task, due when, owned by whom. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest

from services.followup import decider as d
from services.followup.decider.rules import RuleConfig, TaskRules, staff_owner
from shared.contracts.complaint import (
    Channel,
    ComplaintClosed,
    ComplaintPutOnHold,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintResumed,
    HoldKind,
    Level,
    LimitUnit,
    RegulatoryDeadlineExtended,
    RegulatoryMilestoneReached,
    RemediationAction,
    SolutionImplemented,
)
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import FollowUpScheduled, TaskKind
from shared.contracts.reception import ServiceType, VisitServed
from shared.envelope import Envelope
from shared.registry import EventData
from shared.sla.policy import PolicyBook
from tests.support.texts import ref

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
NOW = T0 + timedelta(minutes=1)
COMPLAINT = uuid4()
BOOK = PolicyBook.load()
RULES = TaskRules(BOOK)


def envelope(data: EventData, *, actor: str = "lm-7", branch: str = "b001") -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=data.event_type,
        schema_version=data.schema_version,
        stream_id="s-1",
        stream_version=1,
        branch_id=branch,
        occurred_at=T0,
        recorded_at=T0,
        correlation_id=uuid4(),
        actor=actor,
        data=data.model_dump(mode="json"),
    )


def received() -> ComplaintReceived:
    return ComplaintReceived(
        complaint_id=COMPLAINT,
        channel=Channel.in_branch,
        customer_ref="cust_ref_0001",
        description=ref("card swallowed by the ATM"),
        received_at=T0,
    )


def served(**kw: Any) -> VisitServed:
    fields: dict[str, Any] = {
        "visit_id": uuid4(),
        "service_type": ServiceType.transfer,
        "counter_id": "3",
        "staff_id": "teller-2",
        "outcome": ref("transfer submitted", "reception"),
        "next_steps": ref("funds arrive within 2 business days", "reception"),
        "promised_by": T0 + timedelta(days=2),
        "customer_ref": "cust_ref_0002",
        "waited_seconds": 120,
        "at": T0,
    }
    return VisitServed(**(fields | kw))


def test_complaint_received_schedules_a_progress_update_24h_later() -> None:
    data = received()
    env = envelope(data)
    command = RULES.on_complaint_received(env, data, NOW)
    assert command.kind is TaskKind.progress_update
    assert command.task_id == d.task_id_for(env.event_id, TaskKind.progress_update)
    assert command.due_at == T0 + timedelta(hours=24)
    assert command.subject == f"complaint:{COMPLAINT}" and command.customer_ref == "cust_ref_0001"
    assert command.owner == "lm-7" and command.cause_event_id == env.event_id and command.at == NOW


def test_the_same_event_always_makes_the_same_task() -> None:
    data = received()
    env = envelope(data)
    assert (
        RULES.on_complaint_received(env, data, NOW).task_id
        == RULES.on_complaint_received(env, data, NOW).task_id
    )


def test_progress_updates_can_count_business_time_per_branch() -> None:
    """A bank may set complaint.progress_update to business hours for a branch."""
    book = PolicyBook.from_dict(
        {
            "sla": {
                "complaint.progress_update": {"duration": "8h"},
                "followup.verification": {"duration": "3d"},
            },
            "calendars": {
                "default": {"timezone": "Asia/Shanghai", "mon": ["09:00-17:00"], "tue": ["09:00-17:00"]}
            },
            "branches": {"b002": {"sla": {"complaint.progress_update": {"counting": "business"}}}},
        }
    )
    rules = TaskRules(book)
    # Monday 10:00 local + 8 open hours = Tuesday 10:00 local (02:00 UTC)
    assert rules.progress_due("b002", T0) == T0 + timedelta(days=1)
    assert rules.progress_due("b001", T0) == T0 + timedelta(hours=8)


def test_reopened_complaint_restarts_progress_updates() -> None:
    data = ComplaintReopened(complaint_id=COMPLAINT, at=T0, reason=ref("verification failed"), cycle=2)
    command = RULES.on_complaint_reopened(envelope(data), data, NOW, "cust_ref_0001")
    assert command.kind is TaskKind.progress_update and command.due_at == T0 + timedelta(hours=24)
    assert command.customer_ref == "cust_ref_0001" and "cycle 2" in command.reason


def test_solution_implemented_schedules_a_verification_three_days_later() -> None:
    data = SolutionImplemented(complaint_id=COMPLAINT, solution_id=uuid4(), at=T0)
    command = RULES.on_solution_implemented(envelope(data), data, NOW, "cust_ref_0001")
    assert command.kind is TaskKind.verification
    assert command.due_at == T0 + timedelta(days=3)
    assert command.subject == f"complaint:{COMPLAINT}"


def test_visit_with_a_promise_schedules_a_callback_at_the_promised_time() -> None:
    data = served()
    command = RULES.on_visit_served(envelope(data), data, NOW)
    assert command is not None and command.kind is TaskKind.callback
    assert command.due_at == T0 + timedelta(days=2)
    assert command.owner == "teller-2" and command.customer_ref == "cust_ref_0002"
    # the promise is reception's text: the task refers to it and never quotes it
    assert "promise" in command.reason and "funds" not in command.reason
    assert command.about == (data.next_steps, data.outcome)
    assert command.subject == f"visit:{data.visit_id}"


def test_visit_without_a_promise_schedules_nothing() -> None:
    data = served(promised_by=None, next_steps=None)
    assert RULES.on_visit_served(envelope(data), data, NOW) is None


def test_negative_feedback_schedules_service_recovery_within_24h_unassigned() -> None:
    data = NegativeFeedbackReceived(
        survey_id=uuid4(),
        subject=f"visit:{uuid4()}",
        customer_ref="cust_ref_0003",
        score=1,
        comment=ref("rude teller, call me on ***********"),
        describes_complaint=True,
        at=T0,
    )
    command = RULES.on_negative_feedback(envelope(data, actor="anonymous"), data, NOW)
    assert command.kind is TaskKind.service_recovery
    assert command.due_at == T0 + timedelta(hours=24)
    assert command.owner is None and command.subject == f"survey:{data.survey_id}"
    assert "1/5" in command.reason and "complaint" in command.reason


def test_recovery_window_is_configurable() -> None:
    rules = TaskRules(BOOK, RuleConfig(recovery_within=timedelta(hours=4)))
    data = NegativeFeedbackReceived(
        survey_id=uuid4(), subject="visit:x", customer_ref="cust_ref_0003", score=2, at=T0
    )
    assert rules.on_negative_feedback(envelope(data), data, NOW).due_at == T0 + timedelta(hours=4)


def test_remediation_at_close_becomes_a_task_for_the_closer() -> None:
    data = ComplaintClosed(
        complaint_id=COMPLAINT,
        at=T0,
        result=ref("refunded"),
        root_cause=ref("fee table"),
        remediation=ref("fix the fee table"),
    )
    [command] = RULES.on_complaint_closed(envelope(data, actor="head-1"), data, NOW)
    assert command.kind is TaskKind.remediation
    assert command.owner == "head-1" and command.due_at == T0 + timedelta(days=30)
    plain = ComplaintClosed(complaint_id=COMPLAINT, at=T0, result=ref("explained"))
    assert RULES.on_complaint_closed(envelope(plain), plain, NOW) == []


def test_each_remediation_action_becomes_a_task_for_its_owner_due_when_it_is_due() -> None:
    actions = [
        RemediationAction(
            action_id=uuid4(),
            description=ref("fix the fee table"),
            owner="ops-1",
            due_at=T0 + timedelta(days=7),
        ),
        RemediationAction(
            action_id=uuid4(),
            description=ref("retrain the counter"),
            owner="head-2",
            due_at=T0 + timedelta(days=21),
        ),
    ]
    data = ComplaintClosed(
        complaint_id=COMPLAINT,
        at=T0,
        result=ref("refunded"),
        root_cause=ref("the fee table was wrong"),
        remediation=ref("fix the fee table; retrain the counter"),  # the summary: no extra text task
        bank_at_fault=True,
        remediation_actions=actions,
    )
    env = envelope(data, actor="head-1")
    commands = RULES.on_complaint_closed(env, data, NOW)
    assert [c.kind for c in commands] == [TaskKind.remediation, TaskKind.remediation]
    assert [c.owner for c in commands] == ["ops-1", "head-2"]
    assert [c.due_at for c in commands] == [T0 + timedelta(days=7), T0 + timedelta(days=21)]
    assert [c.task_id for c in commands] == [
        d.task_id_for(env.event_id, TaskKind.remediation, a.action_id) for a in actions
    ]
    assert len({c.task_id for c in commands} | {d.task_id_for(env.event_id, TaskKind.remediation)}) == 3
    assert "fix" not in commands[0].reason  # the words stay with the complaint service
    assert commands[0].about == (actions[0].description, data.root_cause)
    assert all(c.subject == f"complaint:{COMPLAINT}" and c.cause_event_id == env.event_id for c in commands)
    assert [c.task_id for c in RULES.on_complaint_closed(env, data, NOW)] == [c.task_id for c in commands]


def test_an_extension_makes_a_task_to_inform_the_complainant() -> None:
    data = RegulatoryDeadlineExtended(
        complaint_id=COMPLAINT, reason=ref("needs the card network's log"), limit_days=30, at=T0
    )
    command = RULES.on_deadline_extended(envelope(data), data, NOW, "cust_ref_0001")
    assert command.kind is TaskKind.inform_complainant and command.due_at == T0 + timedelta(hours=24)
    assert "30 days" in command.reason and command.owner == "lm-7"


def test_an_approved_60_day_extension_names_the_new_deadline_and_goes_to_the_requester() -> None:
    data = RegulatoryDeadlineExtended(
        complaint_id=COMPLAINT,
        reason=ref("very complex (approved by head-9)"),
        limit_days=60,
        extension=2,
        at=T0,
        requested_by="lm-3",
        approved_by="head-9",
        due_at=datetime(2026, 5, 1, 2, 0, tzinfo=UTC),
    )
    command = RULES.on_deadline_extended(envelope(data, actor="head-9"), data, NOW, "cust_ref_0001")
    assert command.owner == "lm-3"  # the handler who asked: they talk to the complainant
    assert "extended to 60 days, now due by 1 May 2026 10:00 (Asia/Shanghai)" in command.reason
    [event] = d.decide(d.Task(), command)  # the decider's number masking leaves the date readable
    assert isinstance(event, FollowUpScheduled) and event.reason == command.reason


def test_a_uk_holding_reply_extension_counts_business_days() -> None:
    data = RegulatoryDeadlineExtended(
        complaint_id=COMPLAINT,
        reason=ref("holding reply: waiting for the card scheme"),
        limit_days=35,
        at=T0,
        unit=LimitUnit.business_days,
        due_at=datetime(2026, 4, 20, 9, 0, tzinfo=UTC),
    )
    command = RULES.on_deadline_extended(envelope(data), data, NOW, "cust_ref_0001")
    assert "35 business days" in command.reason and "20 Apr 2026 17:00" in command.reason
    assert "35 days" not in command.reason


def test_regulatory_milestone_is_a_task_for_the_branch_head_due_at_the_limit() -> None:
    due = T0 + timedelta(days=15)
    data = RegulatoryMilestoneReached(
        complaint_id=COMPLAINT,
        deadline_id=uuid4(),
        sla="complaint.regulatory",
        profile="cn-2020",
        limit=15,
        unit=LimitUnit.days,
        day=10.0,
        due_at=due,
        action="decide, or extend to 30 days now",
        at=T0 + timedelta(days=10),
    )
    env = envelope(data, actor="system:sla-clock")
    command = RULES.on_regulatory_milestone(env, data, NOW)
    assert command.kind is TaskKind.regulatory_milestone
    assert command.task_id == d.task_id_for(env.event_id, TaskKind.regulatory_milestone)
    assert command.due_at == due and command.owner is None and command.customer_ref is None
    assert command.reason.startswith("decide, or extend to 30 days now")
    assert "branch head" in command.reason and "day 10 of 15 days" in command.reason
    assert command.regulatory_sla == "complaint.regulatory"
    assert command.subject == f"complaint:{COMPLAINT}"
    hq = data.model_copy(update={"assignee_role": Level.hq_department})
    assert "hq department" in RULES.on_regulatory_milestone(env, hq, NOW).reason


def test_an_appraisal_hold_and_its_result_make_inform_tasks_when_the_profile_says_so() -> None:
    hold = ComplaintPutOnHold(
        complaint_id=COMPLAINT,
        reason=ref("card sent to the network for testing."),
        kind=HoldKind.external_appraisal,
        at=T0,
        inform_complainant=True,
        regulatory_clocks_paused=["complaint.regulatory"],
    )
    env = envelope(hold)
    command = RULES.on_put_on_hold(env, hold, NOW, "cust_ref_0001")
    assert command is not None and command.kind is TaskKind.inform_complainant
    assert command.task_id == d.task_id_for(env.event_id, TaskKind.inform_complainant)
    assert command.due_at == T0 + timedelta(hours=24) and command.customer_ref == "cust_ref_0001"
    assert "external appraisal" in command.reason and "testing" not in command.reason
    assert command.about == (hold.reason,)
    assert "does not count" in command.reason and ".." not in command.reason
    quiet = hold.model_copy(update={"inform_complainant": False})
    assert RULES.on_put_on_hold(env, quiet, NOW, "cust_ref_0001") is None

    resumed = ComplaintResumed(
        complaint_id=COMPLAINT,
        at=T0 + timedelta(days=4),
        note=ref("the network's report arrived"),
        inform_complainant=True,
        regulatory_due_at=datetime(2026, 3, 21, 2, 0, tzinfo=UTC),
    )
    after = RULES.on_resumed(envelope(resumed), resumed, NOW, "cust_ref_0001", HoldKind.external_appraisal)
    assert after is not None and after.kind is TaskKind.inform_complainant
    assert after.due_at == T0 + timedelta(days=5)
    assert "appraisal result arrived" in after.reason
    assert "now due by 21 Mar 2026 10:00 (Asia/Shanghai)" in after.reason
    generic = RULES.on_resumed(envelope(resumed), resumed, NOW, "cust_ref_0001", None)
    assert generic is not None and "moving again" in generic.reason
    silent = resumed.model_copy(update={"inform_complainant": False})
    assert RULES.on_resumed(envelope(silent), silent, NOW, "cust_ref_0001") is None


def test_next_progress_update_is_the_one_successor_due_one_interval_later() -> None:
    first = d.followup_decider.fold(
        d.decide(d.Task(), RULES.on_complaint_received(envelope(received()), received(), NOW))
    )
    since = T0 + timedelta(hours=20)
    command = RULES.next_progress_update("b001", first, since, since)
    assert first.task_id is not None
    assert command.task_id == d.successor_id(first.task_id) and command.previous_task_id == first.task_id
    assert command.due_at == since + timedelta(hours=24)
    assert command.owner == first.owner and command.subject == first.subject


@pytest.mark.parametrize(
    ("actor", "owner"),
    [("lm-7", "lm-7"), ("anonymous", None), ("system:complaint", None), ("system", None), ("a b", None)],
)
def test_staff_owner(actor: str, owner: str | None) -> None:
    assert staff_owner(actor) == owner


def test_ids_stay_stable() -> None:
    """Derived ids must never change between releases: a replay would schedule duplicates."""
    cause = UUID("11111111-1111-1111-1111-111111111111")
    assert str(d.task_id_for(cause, TaskKind.verification)) == "e228119b-5559-5786-a4de-a7f5a195bc30"
    action = UUID("22222222-2222-2222-2222-222222222222")
    assert d.task_id_for(cause, TaskKind.remediation, action) == uuid5(
        d.NAMESPACE, f"{cause}:remediation:{action}"
    )
