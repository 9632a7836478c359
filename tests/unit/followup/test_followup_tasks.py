"""The follow-up task decider, given / when / then: lifecycle, refusals, idempotent scheduling."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.followup import domain as d
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
from shared.decider import DomainError
from shared.registry import EventData
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


def given(*commands: d.Command) -> d.Task:
    state = d.followup_decider.initial_state
    for command in commands:
        state = d.followup_decider.fold(d.decide(state, command), state)
    return state


def when(state: d.Task, command: d.Command) -> Sequence[EventData]:
    return d.decide(state, command)


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
    [event] = when(d.Task(), schedule())
    assert isinstance(event, FollowUpScheduled)
    assert event.kind is TaskKind.progress_update and event.due_at == at(24)
    assert event.cause_event_id == CAUSE and event.customer_ref == "cust_ref_0001"
    assert event.scheduled_at == at(0) and event.owner == "lm-1"


def test_scheduling_the_same_task_again_decides_nothing() -> None:
    """Idempotent by construction: the id is derived from the cause, a redelivery is a no-op."""
    state = given(schedule())
    assert when(state, schedule()) == []
    assert when(given(schedule(), d.CancelTask(fref("x"), at(1))), schedule()) == []


def test_task_ids_are_derived_from_cause_and_kind() -> None:
    assert d.task_id_for(CAUSE, TaskKind.verification) == d.task_id_for(CAUSE, TaskKind.verification)
    assert d.task_id_for(CAUSE, TaskKind.verification) != d.task_id_for(CAUSE, TaskKind.callback)
    assert d.task_id_for(CAUSE, TaskKind.callback) != d.task_id_for(uuid4(), TaskKind.callback)
    task = d.task_id_for(CAUSE, TaskKind.progress_update)
    assert d.successor_id(task) == d.successor_id(task) != task


def test_a_verification_must_be_about_a_complaint() -> None:
    with pytest.raises(DomainError, match="complaint"):
        when(d.Task(), schedule(TaskKind.verification, subject=f"visit:{uuid4()}"))


# ---------------------------------------------------------------------------- the lifecycle


def test_contact_attempts_are_counted_and_reached_is_remembered() -> None:
    state = given(schedule(), d.RecordContact(False, at(1), fref("no answer")))
    [event] = when(state, d.RecordContact(True, at(2), fref("told them the case is with HQ")))
    assert isinstance(event, FollowUpContacted) and event.attempt == 2 and event.reached
    state = given(schedule(), d.RecordContact(True, at(1)), d.RecordContact(False, at(2)))
    assert state.status is d.TaskStatus.contacted and state.reached and state.attempts == 2


def test_customer_facing_task_completes_only_after_the_customer_was_reached() -> None:
    with pytest.raises(DomainError, match="not been reached"):
        when(given(schedule()), d.CompleteTask(at(3)))
    with pytest.raises(DomainError, match="not been reached"):
        when(given(schedule(), d.RecordContact(False, at(1))), d.CompleteTask(at(3)))
    [event] = when(given(schedule(), d.RecordContact(True, at(1))), d.CompleteTask(at(3), fref("done")))
    assert isinstance(event, FollowUpCompleted) and event.kind is TaskKind.progress_update


def test_automatic_completion_needs_no_contact_and_is_a_no_op_when_closed() -> None:
    [event] = when(given(schedule()), d.CompleteTask(at(3), automatic=True))
    assert isinstance(event, FollowUpCompleted)
    done = given(schedule(), d.CompleteTask(at(3), automatic=True))
    assert when(done, d.CompleteTask(at(4), automatic=True)) == []


def test_internal_tasks_complete_without_a_customer_contact() -> None:
    remediation = schedule(TaskKind.remediation)
    [event] = when(given(remediation), d.CompleteTask(at(3), fref("new checklist in place")))
    assert isinstance(event, FollowUpCompleted)


def test_verification_passed() -> None:
    state = given(schedule(TaskKind.verification, due_at=at(72)))
    [event] = when(state, d.CompleteTask(at(50), fref("fee refunded, checked the ledger"), verified=True))
    assert isinstance(event, FollowUpCompleted) and event.verified is True


def test_failed_verification_publishes_verification_failed_for_the_complaint() -> None:
    state = given(schedule(TaskKind.verification, due_at=at(72)))
    events = when(state, d.CompleteTask(at(50), fref("refund never arrived"), verified=False))
    assert [type(e) for e in events] == [FollowUpCompleted, VerificationFailed]
    failed = events[1]
    assert isinstance(failed, VerificationFailed)
    assert failed.complaint_id == COMPLAINT and failed.finding == fref("refund never arrived")
    assert (
        given(schedule(TaskKind.verification), d.CompleteTask(at(50), fref("x"), verified=False)).verified
        is False
    )


def test_verification_result_is_required_and_only_for_verifications() -> None:
    with pytest.raises(DomainError, match="verified true or false"):
        when(given(schedule(TaskKind.verification)), d.CompleteTask(at(5), fref("looked")))
    with pytest.raises(DomainError, match="what was found"):
        when(given(schedule(TaskKind.verification)), d.CompleteTask(at(5), None, verified=False))
    reached = given(schedule(), d.RecordContact(True, at(1)))
    with pytest.raises(DomainError, match="only a verification"):
        when(reached, d.CompleteTask(at(5), verified=True))


def test_cancel_needs_a_reason() -> None:
    with pytest.raises(DomainError, match="reason"):
        when(given(schedule()), d.CancelTask(None, at(1)))
    [event] = when(given(schedule()), d.CancelTask(fref("customer asked not to be called"), at(1)))
    assert isinstance(event, FollowUpCancelled) and not event.automatic


def test_automatic_cancel_of_a_closed_task_is_a_no_op_but_staff_get_409() -> None:
    done = given(schedule(), d.RecordContact(True, at(1)), d.CompleteTask(at(2)))
    assert when(done, d.CancelTask(fref("complaint closed"), at(3), automatic=True)) == []
    with pytest.raises(DomainError, match="completed"):
        when(done, d.CancelTask(fref("oops"), at(3)))


def test_reassign_moves_the_owner_and_refuses_the_same_owner() -> None:
    [event] = when(given(schedule()), d.ReassignTask("lm-2", at(1), fref("shift change")))
    assert isinstance(event, FollowUpReassigned) and event.from_owner == "lm-1" and event.to_owner == "lm-2"
    assert given(schedule(), d.ReassignTask("lm-2", at(1))).owner == "lm-2"
    with pytest.raises(DomainError, match="already assigned"):
        when(given(schedule()), d.ReassignTask("lm-1", at(1)))


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
    with pytest.raises(DomainError, match="nothing more"):
        when(given(schedule(), closing), command)


@pytest.mark.parametrize("command", CLOSED_COMMANDS, ids=lambda c: type(c).__name__)
def test_an_unknown_task_refuses_staff_commands(command: d.Command) -> None:
    with pytest.raises(DomainError, match="no such"):
        when(d.Task(), command)


# ------------------------------------------------------------------------------ SLA milestones


def test_sla_events_are_recorded_while_open_and_a_breach_only_once() -> None:
    state = given(schedule())
    [risk] = when(state, d.RecordSla(sla("at_risk", 19.2)))
    assert isinstance(risk, SlaAtRisk)
    breached = given(schedule(), d.RecordSla(sla("breached", 24)))
    assert breached.breached_at == at(24) and breached.is_open
    assert when(breached, d.RecordSla(sla("breached", 24))) == []
    closed = given(schedule(), d.CancelTask(fref("x"), at(1)))
    assert when(closed, d.RecordSla(sla("breached", 24))) == []


def test_an_overdue_task_can_still_be_completed() -> None:
    state = given(schedule(), d.RecordSla(sla("breached", 24)), d.RecordContact(True, at(30)))
    [event] = when(state, d.CompleteTask(at(30)))
    assert isinstance(event, FollowUpCompleted)


def test_notes_travel_as_references_the_decider_never_reads() -> None:
    """Staff's words stay in follow-up's private store (masked there): the event carries the ref."""
    state = given(schedule())
    note = fref("called the customer, refunded 1000 yuan")
    [event] = when(state, d.RecordContact(True, at(1), note))
    assert isinstance(event, FollowUpContacted) and event.note == note
    assert "refunded" not in event.model_dump_json()


def test_a_milestone_task_names_its_regulatory_deadline_and_a_rule_completes_it_without_a_contact() -> None:
    command = schedule(
        TaskKind.regulatory_milestone, owner=None, customer_ref=None, regulatory_sla="complaint.regulatory"
    )
    [scheduled] = when(given(), command)
    assert isinstance(scheduled, FollowUpScheduled) and scheduled.regulatory_sla == "complaint.regulatory"
    state = given(command)
    assert state.regulatory_sla == "complaint.regulatory" and state.owner is None
    [done] = when(state, d.CompleteTask(at=at(5), note=fref("Deadline met"), automatic=True))
    assert isinstance(done, FollowUpCompleted) and done.kind is TaskKind.regulatory_milestone
    # staff may complete it too (the branch head decided): it is not a customer-facing task
    assert isinstance(when(state, d.CompleteTask(at=at(5), note=fref("decided")))[0], FollowUpCompleted)
