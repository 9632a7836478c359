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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.followup.decider import Command, PauseTask, Task, stream_id, successor_id
from services.followup.decider.rules import TaskRules
from shared import reactions
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
    if row is None or row["status"] != "open" or row["started"]:
        return []
    start = since or task.due_at
    assert start is not None
    following = rules.next_progress_update(branch_id, task, start, now)
    if row["hold_kind"] is None:
        return [following]
    return [following, PauseTask(at=following.at, rule=HELD)]
