"""The chain of progress updates, decided in the transaction that ends a link.

Progress updates form a chain per open complaint: the first is scheduled at receipt (and at each
reopen, ``subscribers.py``); each one schedules exactly one successor (``successor_id``) when it
is completed, cancelled by staff, or falls due (its SLA breach), whichever comes first. Closing the
complaint cancels every open one. The ``complaints`` row is locked first by the chain and by the
close, so a successor can never be created after the close has cancelled the others.

The successor is decided where its predecessor ended, in the same transaction: a staff command's
and the SLA clock's through :meth:`FollowUpApp._after_change
<services.followup.app.FollowUpApp._after_change>`, a rule's completion (the update was recorded
on the case) by the reaction that ran it (``subscribers.py``: a batched reaction's
``after_change`` only queues). Until issue 19 the service reacted to its own topic for this; the
events are the same (same successor id, actor, correlation and causation: the ending event), but a
completion no longer costs a consumer round, a transaction and the relay's second trip through
Kafka, and the successor exists as soon as its predecessor is done.

Locks come in one order: the complaint's row, then the task's stream and deadline (staff's
command, the close, a hold). The SLA clock's transaction is the exception: it holds the task's
deadline row when it gets to the complaint's, so it does not wait for that lock (``NOWAIT``): when
a command or a reaction holds it, the breach fails and the scheduler fires it again a little later
(``shared.sla.scheduler.RETRY_AFTER``). If what held the lock ended the task meanwhile (staff
completed it, the complaint closed), that breach is no longer recorded — where the reaction on the
topic recorded it first; the alternative was a deadlock, and a staff command failing with it.

A staff command ends a link without a transaction of its own (one statement after its load,
``shared.one_statement``): it decides from the complaint's row as its load read it (unlocked,
:data:`LOAD_COLUMN`), and the statement that appends both tasks' events locks that row and aborts
when it is no longer what the decision saw (:data:`GUARD`: closed, put on hold or resumed since;
nothing of the statement is then written, and the command runs again on a fresh load,
:func:`moved`). Whichever takes the row first, the close (or the hold) and the successor are
serialised as with the lock taken first: a close that got it first makes the statement abort; a
statement that got it first has committed its successor before the close reads the open tasks.
The statement takes the row after the predecessor's events (a statement's parts run in no order a
caller can choose), so a close racing it on that very task may deadlock with it for a second;
PostgreSQL then aborts one of them, which runs again (a reaction's batch, or the command). The
successor's own existence needs no lock: only an ending of its predecessor creates it, in the
transaction that appends that ending, so the predecessor's version check covers it (a task that
already fell due reads it, :func:`read`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.followup.decider import Command, PauseTask, Task, stream_id, successor_id
from services.followup.decider.rules import TaskRules
from shared import db_batch, one_statement, reactions
from shared.contracts.followup import FollowUpCancelled, FollowUpCompleted, TaskKind
from shared.contracts.sla import SlaBreached
from shared.envelope import Envelope, Metadata

#: who schedules, pauses, completes and cancels tasks by rule
ACTOR = "system:followup-rules"
HELD = "The complaint is on hold: the progress-update clock stops until it resumes."

#: the complaint's row, locked (the close locks it too), and whether the successor exists already
#: (a task that fell due got its successor then; completing it later changes nothing)
_LOCK = """SELECT status, hold_kind, EXISTS (SELECT 1 FROM events WHERE stream_id = $2) AS started
           FROM complaints WHERE complaint_id = $1 FOR UPDATE"""
_LOCK_NOWAIT = f"{_LOCK} NOWAIT"
#: the same, read without a lock (a staff command's statement locks it: :data:`GUARD`)
_READ = """SELECT status, hold_kind, EXISTS (SELECT 1 FROM events WHERE stream_id = $2) AS started
           FROM complaints WHERE complaint_id = $1"""

#: what a task's load reads beside its stream (``shared.commands.ReadWith``, ``$1``: the task's
#: stream): a progress update's complaint's row (id, status, hold), from its schedule's subject
LOAD_COLUMN = """(SELECT array[c.complaint_id::text, c.status, c.hold_kind] FROM complaints c
        WHERE c.complaint_id = (
            SELECT substr(e.data->>'subject', 11)::uuid FROM events e
            WHERE e.stream_id = $1 AND e.stream_version = 1 AND e.data->>'kind' = 'progress_update'
              AND e.data->>'subject' ~ '^complaint:[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$')
    ) AS chain_complaint"""

_MOVED = "branchcare: progress chain moved"

#: queued with a staff command's writes (one statement): the complaint's row locked until the
#: statement commits, the statement aborted when the row is not what the decision read (its
#: status, its hold). The text cast names the row's values, so the planner cannot fold it away.
#: A row gone meanwhile would lock nothing (the lock taken first would have found none and
#: decided no successor); follow-up's ``complaints`` rows are never deleted on a running system
#: (only the restore drill rebuilds them, offline: ``shared/readmodels/kafka_fed.py``).
GUARD = f"""UPDATE complaints SET status = status
    WHERE complaint_id = $1
      AND CASE WHEN status = 'open' AND hold_kind IS NOT DISTINCT FROM $2::text THEN true
               ELSE ('{_MOVED}: complaint ' || complaint_id || ' ' || status || ' '
                     || coalesce(hold_kind, 'not on hold'))::int = 0 END"""


@dataclass(frozen=True)
class Complaint:
    """What the chain decides from: the complaint's row, and whether the successor exists."""

    complaint_id: UUID
    status: str
    hold_kind: str | None
    #: the successor's stream exists already (the predecessor fell due earlier)
    started: bool = False


def loaded(row: Mapping[str, Any]) -> Complaint | None:
    """The complaint's row of :data:`LOAD_COLUMN` (None: no progress update, or no row). It says
    nothing of the successor: valid for a task that has not ended as a link yet (not fallen due)."""
    value = row.get("chain_complaint")
    if not value:
        return None
    complaint_id, status, hold_kind = value
    return Complaint(UUID(complaint_id), status, hold_kind)


def moved(exc: BaseException) -> bool:
    """Whether ``exc`` is :data:`GUARD` aborting a statement (the row changed since it was read)."""
    return one_statement.aborted_by(exc, _MOVED)


def rule_meta(env: Envelope) -> Metadata:
    """A rule's command caused by ``env``: same correlation, ``env`` as its cause."""
    return Metadata(actor=ACTOR, correlation_id=env.correlation_id, causation_id=env.event_id)


def ended(task: Task, envelopes: Sequence[Envelope]) -> tuple[Envelope, datetime | None] | None:
    """The event among ``envelopes`` that ends this progress update as a link of the chain, and
    since when the next one counts (None: since the task was due); None if none does."""
    if task.kind is not TaskKind.progress_update:
        return None
    for env in envelopes:
        if env.type == FollowUpCompleted.event_type:
            return env, datetime.fromisoformat(env.data["at"])
        if env.type == FollowUpCancelled.event_type and not env.data.get("automatic"):
            return env, datetime.fromisoformat(env.data["at"])
        if env.type == SlaBreached.event_type:
            return env, datetime.fromisoformat(env.data["due_at"])
    return None


async def successor(
    conn: asyncpg.Connection,
    rules: TaskRules,
    task: Task,
    branch_id: str,
    since: datetime | None,
    now: datetime,
    *,
    nowait: bool = False,
) -> list[Command]:
    """The commands that start the successor of ``task`` (a progress update of ``branch_id`` that
    just ended), on the stream of ``successor_id(task.task_id)``: its schedule, then a pause when
    the complaint is on hold; none when the complaint is not open (or unknown) or the successor
    exists. Locks the complaint's row for the rest of the transaction (``nowait``: or raises
    :class:`asyncpg.LockNotAvailableError` at once when another transaction holds it)."""
    if task.complaint_id is None or task.task_id is None:
        return []
    await reactions.flush(conn)  # what a reaction batch queued (a complaint's row) is read here
    lock = _LOCK_NOWAIT if nowait else _LOCK
    row = await conn.fetchrow(lock, task.complaint_id, stream_id(successor_id(task.task_id)))
    return following(rules, task, _complaint(task.complaint_id, row), branch_id, since, now)


async def guarded_successor(
    conn: asyncpg.Connection,
    rules: TaskRules,
    task: Task,
    branch_id: str,
    since: datetime | None,
    now: datetime,
    known: Complaint | None,
) -> list[Command]:
    """:func:`successor` for a staff command's one statement: decided from ``known`` (the row as
    the task's load read it) or else read now, without a lock; when there is a successor,
    :data:`GUARD` is queued with the statement's writes."""
    if task.complaint_id is None or task.task_id is None:
        return []
    complaint = known if known is not None and known.complaint_id == task.complaint_id else None
    if complaint is None:
        complaint = await read(conn, task.complaint_id, task.task_id)
    commands = following(rules, task, complaint, branch_id, since, now)
    if commands:
        assert complaint is not None
        await db_batch.write(conn, GUARD, complaint.complaint_id, complaint.hold_kind)
    return commands


async def read(conn: asyncpg.Connection, complaint_id: UUID, task_id: UUID) -> Complaint | None:
    """The complaint's row and whether the successor of ``task_id`` exists, without a lock."""
    row = await conn.fetchrow(_READ, complaint_id, stream_id(successor_id(task_id)))
    return _complaint(complaint_id, row)


def _complaint(complaint_id: UUID, row: asyncpg.Record | None) -> Complaint | None:
    if row is None:
        return None
    return Complaint(complaint_id, row["status"], row["hold_kind"], row["started"])


def following(
    rules: TaskRules,
    task: Task,
    complaint: Complaint | None,
    branch_id: str,
    since: datetime | None,
    now: datetime,
) -> list[Command]:
    """The successor's commands, given the complaint's row: none unless it is open and the
    successor does not exist yet; paused from the start when the complaint is on hold."""
    if complaint is None or complaint.status != "open" or complaint.started:
        return []
    start = since or task.due_at
    assert start is not None
    schedule = rules.next_progress_update(branch_id, task, start, now)
    if complaint.hold_kind is None:
        return [schedule]
    return [schedule, PauseTask(at=schedule.at, rule=HELD)]
