"""How each event changes a task: one small function per event type (``evolve.table``).

An event no function is registered for changes nothing; replaying a task's events gives its state.
"""

from __future__ import annotations

from datetime import datetime

from services.followup.decider.task import Task, TaskStatus
from shared.by_name import absorb, replace
from shared.contracts import followup as e
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef
from shared.decider_tables import Evolutions

#: ``evolve(state, event)``: each event type's function below (``@on``)
evolve: Evolutions[Task] = Evolutions()
on = evolve.on


@on(e.FollowUpScheduled)
def _scheduled(state: Task, event: e.FollowUpScheduled) -> Task:
    """The task keeps what its schedule said, by the same names."""
    return absorb(state, event, status=TaskStatus.scheduled)


@on(e.FollowUpContacted)
def _contacted(state: Task, event: e.FollowUpContacted) -> Task:
    reached = state.reached or event.reached
    return replace(
        state, status=TaskStatus.contacted, attempts=event.attempt, reached=reached, last_note=event.note
    )


@on(e.FollowUpReassigned)
def _reassigned(state: Task, event: e.FollowUpReassigned) -> Task:
    return replace(state, owner=event.to_owner)


@on(e.FollowUpCompleted)
def _completed(state: Task, event: e.FollowUpCompleted) -> Task:
    closed = _closed(state, TaskStatus.completed, event.at, event.note, event.rule)
    return replace(closed, about=state.about + tuple(event.about), verified=event.verified)


@on(e.FollowUpCancelled)
def _cancelled(state: Task, event: e.FollowUpCancelled) -> Task:
    return _closed(state, TaskStatus.cancelled, event.at, event.reason, event.rule)


def _closed(state: Task, status: TaskStatus, at: datetime, note: TextRef | None, rule: str | None) -> Task:
    return replace(state, status=status, closed_at=at, close_note=note, close_rule=rule)


@on(e.FollowUpPaused)
def _paused(state: Task, event: e.FollowUpPaused) -> Task:
    return replace(state, paused_at=event.at)


@on(e.FollowUpResumed)
def _resumed(state: Task, event: e.FollowUpResumed) -> Task:
    held = state.held_seconds + event.paused_seconds
    return replace(state, paused_at=None, due_at=event.due_at, held_seconds=held)


@on(SlaAtRisk)
def _at_risk(state: Task, event: SlaAtRisk) -> Task:
    return replace(state, at_risk_at=state.at_risk_at or event.at)


@on(SlaBreached)
def _breached(state: Task, event: SlaBreached) -> Task:
    return replace(state, breached_at=event.at)
