"""A complaint on hold stops its progress-update clock: over any sequence of holds, resumes and a
close, no progress update is overdue for time spent on hold, and the SLA clock that fires the
breaches agrees with the task's due time. Pure: the task decider and the SLA clock's arithmetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from services.followup.decider import (
    CancelTask,
    Command,
    PauseTask,
    ResumeTask,
    ScheduleTask,
    Task,
    decide,
    evolve,
    followup_decider,
)
from shared.contracts.followup import FollowUpPaused, FollowUpResumed, TaskKind
from shared.sla.deadlines import Deadline, schedule
from shared.sla.policy import PolicyBook
from tests.support.decider import Scenario, only
from tests.support.decider import given as past

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
INTERVAL = timedelta(hours=24)
BOOK = PolicyBook.load()


def run(state: Task, command: object) -> Task:
    for event in decide(state, command):  # type: ignore[arg-type]
        state = evolve(state, event)
    return state


SCHEDULE = ScheduleTask(
    task_id=uuid4(), kind=TaskKind.progress_update, due_at=T0 + INTERVAL, reason="progress",
    subject=f"complaint:{uuid4()}", at=T0,
)  # fmt: skip


def scheduled(*commands: Command) -> Scenario[Command, Task]:
    """A progress update scheduled at T0, then ``commands`` (given / when / then)."""
    return past(followup_decider).after(SCHEDULE, *commands)


def clock(started: datetime) -> Deadline:
    return schedule(
        Deadline(
            deadline_id=uuid4(), subject_type="follow_up", subject_id="t", stream_id="s", branch_id="b001",
            sla="followup.due", policy="p", rule="r", counting="calendar", duration=INTERVAL,
            milestones=(0.8,), started_at=started, pauses=(), state="running", due_at=None, fired=(),
            next_fire_at=None, next_fire_kind=None, ended_at=None,
        ),
        BOOK,
    )  # fmt: skip


def test_a_hold_moves_the_due_time_by_exactly_the_held_time() -> None:
    held = scheduled(PauseTask(at=T0 + timedelta(hours=20), rule="held"))
    assert held.state.paused_at == T0 + timedelta(hours=20)
    assert not held.state.overdue(T0 + timedelta(days=10)), "never overdue while held"
    outcome = held.when(ResumeTask(at=T0 + timedelta(days=10, hours=20), rule="resumed"))
    assert only(outcome, FollowUpResumed).paused_seconds == 10 * 24 * 3600
    task = outcome.state
    assert task.due_at == T0 + timedelta(days=11)  # the 4 hours that were left
    assert not task.overdue(T0 + timedelta(days=10, hours=23)) and task.overdue(T0 + timedelta(days=11))


def test_holds_are_idempotent_and_a_closed_task_ignores_them() -> None:
    scheduled(PauseTask(at=T0, rule="held")).when(PauseTask(at=T0 + timedelta(hours=1), rule="held")).then()
    scheduled().when(ResumeTask(at=T0, rule="resumed")).then()  # nothing paused
    closed = scheduled(
        PauseTask(at=T0, rule="held"), CancelTask(reason=None, at=T0, automatic=True, rule="closed")
    )
    closed.when(PauseTask(at=T0, rule="held")).then()
    closed.when(ResumeTask(at=T0, rule="resumed")).then()
    assert not closed.state.overdue(T0 + timedelta(days=3))


steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=36 * 60)),  # minutes
        st.tuples(st.just("hold"), st.just(0)),
        st.tuples(st.just("resume"), st.just(0)),
        st.tuples(st.just("close"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(steps)
def test_no_overdue_progress_update_for_time_on_hold(sequence: list[tuple[str, int]]) -> None:
    """Whatever the order of holds, resumes, time passing and the close: the task is overdue only
    once more than 24 h of *running* time passed (and then it is), and the SLA clock (pauses
    recorded by the same events) is due at the same moment and never fires during a hold."""
    task, now = scheduled().state, T0
    deadline = clock(T0)
    held = timedelta(0)  # completed holds
    extended = timedelta(0)  # the holds that began while time was left (they move the due time)
    for step, minutes in sequence:
        if step == "advance":
            now += timedelta(minutes=minutes)
        elif step == "close":
            task = run(task, CancelTask(reason=None, at=now, automatic=True, rule="closed"))
        else:
            command = PauseTask(at=now, rule="held") if step == "hold" else ResumeTask(at=now, rule="resumed")
            for event in decide(task, command):
                before = task
                task = evolve(task, event)
                if isinstance(event, FollowUpPaused):  # what app._after_append does to the clock
                    deadline = replace(deadline, state="paused", pauses=(*deadline.pauses, (now, None)))
                    deadline = schedule(deadline, BOOK)
                elif isinstance(event, FollowUpResumed):
                    lo, _ = deadline.pauses[-1]
                    held += now - lo
                    assert before.due_at is not None
                    extended += now - lo if lo < before.due_at else timedelta(0)
                    deadline = schedule(
                        replace(deadline, state="running", pauses=(*deadline.pauses[:-1], (lo, now))), BOOK
                    )
        on_hold = timedelta(0) if task.paused_at is None else now - task.paused_at
        running = now - T0 - held - on_hold
        if task.is_open:
            assert task.due_at == T0 + INTERVAL + extended
            if task.overdue(now):
                assert running >= INTERVAL, "overdue only for running time, never for time on hold"
            if task.paused_at is None and running >= INTERVAL:
                assert task.overdue(now)
            if task.paused_at is None:
                assert deadline.due_at == task.due_at
            else:
                assert not task.overdue(now)
                assert deadline.next_fire_at is None, "the SLA clock fires nothing during a hold"
        else:
            assert not task.overdue(now)
