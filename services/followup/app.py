"""Follow-up command handling: the task decider over the event store, its read model and deadlines.

Commands come from two places: staff over HTTP (:meth:`FollowUpApp.execute`, its own transaction)
and rules reacting to other contexts' events or to the SLA clock (:meth:`FollowUpApp.execute_in`,
inside the projection's or the scheduler's transaction, so the reaction commits exactly once
together with the consumer's progress). Either way the same ``after_change`` keeps the ``tasks``
table and the task's deadline in step with the stream, in the same transaction: both are queued
(``shared.db_batch``) and go to PostgreSQL with the append as one statement — one row of each per
command, and nothing in the command reads them back. A progress update that ends there (done or
dropped by staff, fallen due) starts its successor in the same transaction too
(``services.followup.chain``). Staff's commands need no transaction of their own: each is that one
statement after the task's load (``shared.one_statement``), a progress update's successor
included (the complaint's row it depends on read with the load and guarded in the statement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg

from services.followup import chain, metrics
from services.followup.decider import Command, RecordSla, ScheduleTask, Task, followup_decider, stream_id
from services.followup.decider.rules import VERIFICATION_SLA, TaskRules
from services.followup.task_rows import upsert as _upsert_task
from shared import append_many, reactions
from shared.actors import SLA_CLOCK
from shared.clock import Clock
from shared.commands import CheckBranch, CommandHandler, CommandResult, Loaded, PendingTexts, ReadWith
from shared.contracts.followup import (
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpPaused,
    FollowUpResumed,
    FollowUpScheduled,
    TaskKind,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.envelope import Envelope, Metadata
from shared.eventstore import ConcurrencyError, EventStore
from shared.idempotency import Create
from shared.metrics import COMMAND_CONFLICTS, EVENTS_APPENDED
from shared.registry import EventData
from shared.sla.deadlines import Deadline, Deadlines
from shared.sla.scheduler import Kind
from shared.sla.subject import Subject
from shared.stream_cache import StreamCache
from shared.stream_commands import StreamCommands
from shared.stream_texts import StreamTexts, texts_column
from shared.texts import PrivateTexts

SERVICE = "followup"
DUE_SLA = "followup.due"
MIN_DEADLINE = timedelta(seconds=1)


@dataclass(frozen=True)
class TaskLoad:
    """What a task's load reads beside its stream (``shared.commands.ReadWith``): this context's
    texts its events refer to, which a command's answer shows (``shared.stream_texts``), and a
    progress update's complaint's row, which its ending decides the successor from
    (``chain.LOAD_COLUMN``)."""

    texts: StreamTexts
    complaint: chain.Complaint | None


def _task_load(row: Mapping[str, Any]) -> TaskLoad:
    return TaskLoad(StreamTexts.of(row), chain.loaded(row))


READ_WITH = ReadWith(f"{texts_column(SERVICE)},\n    {chain.LOAD_COLUMN}", _task_load)


def sla_for(kind: TaskKind) -> str:
    """Verification has its own policy (3 days, 跟踪核查); every other kind is ``followup.due``."""
    return VERIFICATION_SLA if kind is TaskKind.verification else DUE_SLA


@dataclass(eq=False)
class FollowUpApp(StreamCommands[Command, Task]):
    """Task commands (``execute``, ``execute_in``, ``load``: :class:`~shared.stream_commands.StreamCommands`)
    with the tasks table and each task's deadline kept in step, and a progress update's successor
    scheduled when it ends (``services.followup.chain``, by ``rules``)."""

    store: EventStore
    clock: Clock
    deadlines: Deadlines
    #: staff's notes and reasons (private, erasable; events carry references)
    texts: PrivateTexts
    rules: TaskRules
    #: how many tasks' decoded streams :attr:`stream_cache` keeps (``FOLLOWUP_STREAM_CACHE_SIZE``)
    stream_cache_size: int = 4096
    #: the tasks' decoded streams by version (``shared.stream_cache``), one for both handlers: the
    #: route's load (``handler``) puts a task in, the staff command's append (``staff``) moves it on
    stream_cache: StreamCache[Task] = field(init=False)

    def __post_init__(self) -> None:
        self.stream_cache = StreamCache(self.stream_cache_size)
        handler = partial(
            CommandHandler,
            service=SERVICE,
            store=self.store,
            decider=followup_decider,
            clock=self.clock,
            after_change=self._after_change,
            text_keys=True,  # staff's notes: the keys they go under are read with the task,
            # and what a command needs of it (TaskLoad: its texts, a progress update's complaint)
            read_with=READ_WITH,
            # a load (the route's, a reaction's) decodes only the events after the cached ones;
            # only committed streams go in (a load outside any transaction, a staff command's own
            # append once committed): a reaction's appends are read with the next load
            stream_cache=self.stream_cache,
        )
        noun = "follow-up task"
        super().__init__(handler(), stream_id=stream_id, noun=noun)
        #: staff's commands: ``_after_change`` locks nothing and queues every write, which go with
        #: the append as one statement, without BEGIN and COMMIT (``shared.one_statement``); a
        #: progress update's successor too, the complaint's row guarded in that statement
        self.staff = _StaffCommands(handler(one_statement=True), stream_id=stream_id, noun=noun)

    def for_staff(self, task: Task) -> StreamCommands[Command, Task]:
        """Where a staff command on ``task`` runs: one statement after the route's load, whatever
        the task (a progress update's ending included: ``chain.guarded_successor``)."""
        return self.staff

    # ---------------------------------------------------------------------- the SLA clock fires

    async def on_fire(self, conn: asyncpg.Connection, deadline: Deadline, kind: Kind, at: datetime) -> None:
        """Append SlaAtRisk / SlaBreached to the task's stream (the scheduler's transaction)."""
        fields = deadline.event_fields()
        event: SlaAtRisk | SlaBreached
        if kind == "breached":
            event = SlaBreached(**fields, at=at)
        else:
            total = (deadline.due_at - deadline.started_at) if deadline.due_at else deadline.duration
            used = (at - deadline.started_at) / total if total > timedelta(0) else 1.0
            event = SlaAtRisk(**fields, at=at, used_fraction=min(max(used, 0.0), 1.0))
        meta = Metadata(actor=SLA_CLOCK)
        await self.execute_in(conn, UUID(deadline.subject_id), RecordSla(event), meta=meta)

    # ------------------------------------------------- read model + deadline, same transaction

    async def _after_change(
        self,
        conn: asyncpg.Connection,
        before: Task,
        state: Task,
        envelopes: Sequence[Envelope],
        _locked: object = None,
    ) -> None:
        """The task's row and its deadline, each one queued write; the deadline is read once
        (not at all for a new task: it has none) and changed in memory (``Deadlines.cached``)."""
        if not envelopes or state.task_id is None or state.kind is None:
            return
        branch_id = envelopes[0].branch_id
        version = envelopes[-1].stream_version
        await _upsert_task(conn, state, branch_id, version)
        sla = sla_for(state.kind)
        subject = str(state.task_id)
        types = {e.type for e in envelopes}
        moves = types & _MOVE_DEADLINE
        if envelopes[0].stream_version > 1 and moves and moves <= _END_DEADLINE and _STARTS not in types:
            # completed or cancelled: the deadline ends in SQL, queued, not read first (issue 19)
            assert state.closed_at is not None
            end = "met" if FollowUpCompleted.event_type in moves else "cancelled"
            breached = state.breached_at is not None
            await self.deadlines.end_later(conn, subject, sla, state.closed_at, end, breached=breached)
            await self._track(conn, None, state, envelopes, sla, subject)
        else:
            # read only when an event changes an existing deadline (a new task has none yet)
            read = envelopes[0].stream_version > 1 and bool(moves)
            deadlines = await self.deadlines.cached(conn if read else None, subject)
            await self._track(conn, deadlines, state, envelopes, sla, subject)
            await deadlines.write(conn)
        link = chain.ended(state, envelopes)
        # a batched reaction's after_change only queues: the reaction schedules the successor itself
        if link is not None and reactions.pending(conn) is None:
            ending, since = link
            now = self.clock.now()
            if conn.is_in_transaction():  # the complaint's row locked first
                clock = ending.type == SlaBreached.event_type  # the scheduler's: it holds the deadline's row
                commands = await chain.successor(conn, self.rules, state, branch_id, since, now, nowait=clock)
            else:  # a staff command's one statement: the row as the load read it, guarded in it
                row = _locked.complaint if isinstance(_locked, TaskLoad) else None
                known = row if before.breached_at is None else None  # fallen due: successor may exist
                commands = await chain.guarded_successor(
                    conn, self.rules, state, branch_id, since, now, known
                )
            if commands:
                await self._start(conn, commands, chain.rule_meta(ending), branch_id)

    async def _start(
        self, conn: asyncpg.Connection, commands: Sequence[Command], meta: Metadata, branch_id: str
    ) -> None:
        """A new task (a successor, which only its predecessor's ending creates: the complaint's
        row locked, or guarded in the statement) decided in memory and appended with its row and
        deadline at the transaction's end (or in the command's one statement): no savepoint and
        no load for a stream that cannot exist yet (if it does, its append's version check
        refuses the whole)."""
        first = commands[0]
        assert isinstance(first, ScheduleTask)
        new_stream = stream_id(first.task_id)
        state, decided = followup_decider.initial_state, list[EventData]()
        for command in commands:
            events = followup_decider.decide(state, command)
            state = followup_decider.fold(events, state)
            decided.extend(events)
        envelopes = self.handler.envelopes(new_stream, 0, branch_id, decided, meta)
        # with its predecessor's append, as one statement: their rows (task, deadline) are apart
        append_many.let_join(conn)
        await self.store.append_later(conn, new_stream, 0, envelopes)
        await self._after_change(conn, followup_decider.initial_state, state, envelopes)
        EVENTS_APPENDED.labels(SERVICE).inc(len(envelopes))

    async def _track(
        self,
        conn: asyncpg.Connection,
        deadlines: Deadlines | None,
        state: Task,
        envelopes: Sequence[Envelope],
        sla: str,
        subject: str,
    ) -> None:
        """The deadline follows the task's events (and the metrics they complete); ``deadlines``
        None: it was ended already (``Deadlines.end_later``), only the metrics are left."""
        assert state.kind is not None
        branch_id = envelopes[0].branch_id
        for env in envelopes:
            if env.type == FollowUpScheduled.event_type:
                assert state.scheduled_at is not None and state.due_at is not None
                policy = replace(self.deadlines.book.policy(sla, branch_id), counting="calendar")
                assert deadlines is not None
                await deadlines.start(
                    conn,
                    subject=Subject("follow_up", subject, env.stream_id, branch_id),
                    sla=sla,
                    started_at=state.scheduled_at,
                    duration=max(state.due_at - state.scheduled_at, MIN_DEADLINE),
                    policy=policy,
                )
                metrics.TASKS_SCHEDULED.labels(state.kind.value).inc()
            elif env.type == FollowUpCompleted.event_type:
                assert state.closed_at is not None
                if deadlines is not None:
                    await deadlines.meet(conn, subject, sla, state.closed_at)
                outcome = "verification_failed" if state.verified is False else "completed"
                metrics.TASKS_CLOSED.labels(state.kind.value, outcome).inc()
                if state.scheduled_at is not None:
                    seconds = (state.closed_at - state.scheduled_at).total_seconds()
                    metrics.COMPLETION_SECONDS.labels(state.kind.value).observe(max(seconds, 0.0))
            elif env.type == FollowUpCancelled.event_type:
                assert state.closed_at is not None
                if deadlines is not None:
                    await deadlines.cancel(conn, subject, sla, state.closed_at)
                metrics.TASKS_CLOSED.labels(state.kind.value, "cancelled").inc()
            elif env.type == FollowUpPaused.event_type:
                assert deadlines is not None
                await deadlines.pause(conn, subject, datetime.fromisoformat(env.data["at"]))
            elif env.type == FollowUpResumed.event_type:
                assert deadlines is not None
                await deadlines.resume(conn, subject, datetime.fromisoformat(env.data["at"]))
            elif env.type == SlaBreached.event_type:
                metrics.TASK_BREACHES.labels(state.kind.value).inc()


#: how often a staff command runs again when its statement found the complaint's row moved
#: (``chain.GUARD``) or deadlocked with a close racing it (nothing was written either way)
_RETRIES = 3


class _StaffCommands(StreamCommands[Command, Task]):
    """Staff's commands on a task, each one statement after its load. A progress update's ending
    guards the complaint's row in that statement (``chain.GUARD``): when the row moved since the
    load (the complaint closed, put on hold or resumed), or when the statement deadlocked with a
    close taking the task's rows the other way round, the statement wrote nothing and the command
    runs again on a fresh load (a stream moved too is then a conflict as usual)."""

    async def execute(
        self,
        entity_id: UUID,
        command: Command,
        meta: Metadata,
        expected_version: int | None = None,
        *,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
        preloaded: Loaded[Task] | None = None,
        create: Create | None = None,
    ) -> CommandResult[Task]:
        for attempt in range(_RETRIES + 1):
            try:
                return await super().execute(
                    entity_id,
                    command,
                    meta,
                    expected_version,
                    check_branch=check_branch,
                    texts=texts,
                    preloaded=preloaded,
                    create=create,
                )
            except asyncpg.DeadlockDetectedError:
                if attempt == _RETRIES:
                    raise
            except asyncpg.InvalidTextRepresentationError as exc:
                if not chain.moved(exc):
                    raise
                if attempt == _RETRIES:
                    COMMAND_CONFLICTS.labels(SERVICE, "rejected").inc()
                    raise ConcurrencyError(stream_id(entity_id), expected_version or 0) from exc
            COMMAND_CONFLICTS.labels(SERVICE, "retried").inc()
            preloaded = None  # what it read is stale
        raise AssertionError("unreachable")


#: the events that end, pause or resume a task's deadline
_MOVE_DEADLINE = frozenset(
    e.event_type for e in (FollowUpCompleted, FollowUpCancelled, FollowUpPaused, FollowUpResumed)
)
#: the events that end it, and the one that starts it
_END_DEADLINE = frozenset(e.event_type for e in (FollowUpCompleted, FollowUpCancelled))
_STARTS = FollowUpScheduled.event_type
