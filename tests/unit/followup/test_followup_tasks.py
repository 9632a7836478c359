"""The follow-up task decider, given / when / then (``tests.support.decider``): lifecycle,
refusals, idempotent scheduling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.followup import decider as d
from shared.contracts.followup import (
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpContacted,
    FollowUpReassigned,
    FollowUpScheduled,
    TaskKind,
    VerificationFailed,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from tests.support.decider import Scenario, given, only
from tests.support.texts import fref

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
COMPLAINT = UUID("00000000-0000-0000-0000-0000000000c1")
CAUSE = UUID("00000000-0000-0000-0000-0000000000e1")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def schedule(kind: TaskKind = TaskKind.progress_update, **kw: object) -> d.ScheduleTask:
    fields: dict[str, object] = {
        "task_id": d.task_id_for(CAUSE, kind),
        "kind": kind,
        "due_at": at(24),
        "reason": "keep the promise",
        "subject": f"complaint:{COMPLAINT}",
        "at": at(0),
        "owner": "lm-1",
        "cause_event_id": CAUSE,
        "customer_ref": "cust_ref_0001",
    }
    return d.ScheduleTask(**(fields | kw))  # type: ignore[arg-type]


def task(*commands: d.Command) -> Scenario[d.Command, d.Task]:
    """A task that went through ``commands`` (its past: the events they recorded)."""
    return given(d.followup_decider).after(*commands)


def sla(kind: str, hours: float) -> SlaAtRisk | SlaBreached:
    fields = {
        "deadline_id": uuid4(),
        "sla": "followup.due",
        "policy": "default",
        "subject_type": "follow_up",
        "subject_id": str(d.task_id_for(CAUSE, TaskKind.progress_update)),
        "started_at": at(0),
        "due_at": at(24),
        "at": at(hours),
    }
    if kind == "breached":
        return SlaBreached(**fields)  # type: ignore[arg-type]
    return SlaAtRisk(**fields, used_fraction=hours / 24)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- scheduling


def test_schedule_records_the_task_with_its_cause_and_customer() -> None:
    event = only(task().when(schedule()), FollowUpScheduled)
    assert event.kind is TaskKind.progress_update and event.due_at == at(24)
    assert event.cause_event_id == CAUSE and event.customer_ref == "cust_ref_0001"
    assert event.scheduled_at == at(0) and event.owner == "lm-1"


def test_scheduling_the_same_task_again_decides_nothing() -> None:
    """Idempotent by construction: the id is derived from the cause, a redelivery is a no-op."""
    task(schedule()).when(schedule()).then()
    task(schedule(), d.CancelTask(fref("x"), at(1))).when(schedule()).then()


def test_task_ids_are_derived_from_cause_and_kind() -> None:
    assert d.task_id_for(CAUSE, TaskKind.verification) == d.task_id_for(CAUSE, TaskKind.verification)
    assert d.task_id_for(CAUSE, TaskKind.verification) != d.task_id_for(CAUSE, TaskKind.callback)
    assert d.task_id_for(CAUSE, TaskKind.callback) != d.task_id_for(uuid4(), TaskKind.callback)
    tid = d.task_id_for(CAUSE, TaskKind.progress_update)
    assert d.successor_id(tid) == d.successor_id(tid) != tid


def test_a_verification_must_be_about_a_complaint() -> None:
    task().when(schedule(TaskKind.verification, subject=f"visit:{uuid4()}")).then_raises("complaint")


# ---------------------------------------------------------------------------- the lifecycle


def test_contact_attempts_are_counted_and_reached_is_remembered() -> None:
    tried = task(schedule(), d.RecordContact(False, at(1), fref("no answer")))
    event = only(
        tried.when(d.RecordContact(True, at(2), fref("told them the case is with HQ"))), FollowUpContacted
    )
    assert event.attempt == 2 and event.reached
    state = task(schedule(), d.RecordContact(True, at(1)), d.RecordContact(False, at(2))).state
    assert state.status is d.TaskStatus.contacted and state.reached and state.attempts == 2


def test_customer_facing_task_completes_only_after_the_customer_was_reached() -> None:
    task(schedule()).when(d.CompleteTask(at(3))).then_raises("not been reached")
    task(schedule(), d.RecordContact(False, at(1))).when(d.CompleteTask(at(3))).then_raises(
        "not been reached"
    )
    reached = task(schedule(), d.RecordContact(True, at(1)))
    event = only(reached.when(d.CompleteTask(at(3), fref("done"))), FollowUpCompleted)
    assert event.kind is TaskKind.progress_update


def test_automatic_completion_needs_no_contact_and_is_a_no_op_when_closed() -> None:
    task(schedule()).when(d.CompleteTask(at(3), automatic=True)).then(FollowUpCompleted)
    done = task(schedule(), d.CompleteTask(at(3), automatic=True))
    done.when(d.CompleteTask(at(4), automatic=True)).then()


def test_internal_tasks_complete_without_a_customer_contact() -> None:
    remediation = schedule(TaskKind.remediation)
    task(remediation).when(d.CompleteTask(at(3), fref("new checklist in place"))).then(FollowUpCompleted)


def test_verification_passed() -> None:
    state = task(schedule(TaskKind.verification, due_at=at(72)))
    outcome = state.when(d.CompleteTask(at(50), fref("fee refunded, checked the ledger"), verified=True))
    assert only(outcome, FollowUpCompleted).verified is True


def test_failed_verification_publishes_verification_failed_for_the_complaint() -> None:
    state = task(schedule(TaskKind.verification, due_at=at(72)))
    outcome = state.when(d.CompleteTask(at(50), fref("refund never arrived"), verified=False))
    outcome.then(FollowUpCompleted, VerificationFailed)
    failed = outcome.events[1]
    assert isinstance(failed, VerificationFailed)
    assert failed.complaint_id == COMPLAINT and failed.finding == fref("refund never arrived")
    assert outcome.state.verified is False


def test_verification_result_is_required_and_only_for_verifications() -> None:
    verification = task(schedule(TaskKind.verification))
    verification.when(d.CompleteTask(at(5), fref("looked"))).then_raises("verified true or false")
    verification.when(d.CompleteTask(at(5), None, verified=False)).then_raises("what was found")
    reached = task(schedule(), d.RecordContact(True, at(1)))
    reached.when(d.CompleteTask(at(5), verified=True)).then_raises("only a verification")


def test_cancel_needs_a_reason() -> None:
    task(schedule()).when(d.CancelTask(None, at(1))).then_raises("reason")
    outcome = task(schedule()).when(d.CancelTask(fref("customer asked not to be called"), at(1)))
    assert not only(outcome, FollowUpCancelled).automatic


def test_automatic_cancel_of_a_closed_task_is_a_no_op_but_staff_get_409() -> None:
    done = task(schedule(), d.RecordContact(True, at(1)), d.CompleteTask(at(2)))
    done.when(d.CancelTask(fref("complaint closed"), at(3), automatic=True)).then()
    done.when(d.CancelTask(fref("oops"), at(3))).then_raises("completed")


def test_reassign_moves_the_owner_and_refuses_the_same_owner() -> None:
    event = only(
        task(schedule()).when(d.ReassignTask("lm-2", at(1), fref("shift change"))), FollowUpReassigned
    )
    assert event.from_owner == "lm-1" and event.to_owner == "lm-2"
    assert task(schedule(), d.ReassignTask("lm-2", at(1))).state.owner == "lm-2"
    task(schedule()).when(d.ReassignTask("lm-1", at(1))).then_raises("already assigned")


CLOSED_COMMANDS: list[d.Command] = [
    d.RecordContact(True, at(5)),
    d.CompleteTask(at(5)),
    d.CancelTask(fref("x"), at(5)),
    d.ReassignTask("lm-9", at(5)),
]


@pytest.mark.parametrize("command", CLOSED_COMMANDS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize(
    "closing",
    [d.CancelTask(fref("not needed"), at(1)), d.CompleteTask(at(1), automatic=True)],
    ids=["cancelled", "completed"],
)
def test_a_closed_task_refuses_every_staff_command(closing: d.Command, command: d.Command) -> None:
    task(schedule(), closing).when(command).then_raises("nothing more")


@pytest.mark.parametrize("command", CLOSED_COMMANDS, ids=lambda c: type(c).__name__)
def test_an_unknown_task_refuses_staff_commands(command: d.Command) -> None:
    task().when(command).then_raises("no such")


# ------------------------------------------------------------------------------ SLA milestones


def test_sla_events_are_recorded_while_open_and_a_breach_only_once() -> None:
    task(schedule()).when(d.RecordSla(sla("at_risk", 19.2))).then(SlaAtRisk)
    breached = task(schedule(), d.RecordSla(sla("breached", 24)))
    assert breached.state.breached_at == at(24) and breached.state.is_open
    breached.when(d.RecordSla(sla("breached", 24))).then()
    task(schedule(), d.CancelTask(fref("x"), at(1))).when(d.RecordSla(sla("breached", 24))).then()


def test_an_overdue_task_can_still_be_completed() -> None:
    state = task(schedule(), d.RecordSla(sla("breached", 24)), d.RecordContact(True, at(30)))
    state.when(d.CompleteTask(at(30))).then(FollowUpCompleted)


def test_notes_travel_as_references_the_decider_never_reads() -> None:
    """Staff's words stay in follow-up's private store (masked there): the event carries the ref."""
    note = fref("called the customer, refunded 1000 yuan")
    event = only(task(schedule()).when(d.RecordContact(True, at(1), note)), FollowUpContacted)
    assert event.note == note
    assert "refunded" not in event.model_dump_json()


def test_a_milestone_task_names_its_regulatory_deadline_and_a_rule_completes_it_without_a_contact() -> None:
    command = schedule(
        TaskKind.regulatory_milestone, owner=None, customer_ref=None, regulatory_sla="complaint.regulatory"
    )
    assert only(task().when(command), FollowUpScheduled).regulatory_sla == "complaint.regulatory"
    state = task(command)
    assert state.state.regulatory_sla == "complaint.regulatory" and state.state.owner is None
    done = only(
        state.when(d.CompleteTask(at=at(5), note=fref("Deadline met"), automatic=True)), FollowUpCompleted
    )
    assert done.kind is TaskKind.regulatory_milestone
    # staff may complete it too (the branch head decided): it is not a customer-facing task
    state.when(d.CompleteTask(at=at(5), note=fref("decided"))).then(FollowUpCompleted)
