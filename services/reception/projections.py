"""Read models of the reception service, written inside the command's transaction.

Not Kafka projections: the lobby board must show a command's effect the moment it returns, so
the command (and the SLA scheduler's callback) upserts these rows in the same transaction as the
events; a visit's and a counter's are queued with the append (``shared.db_batch``), one statement
with it. A visit's or call's row is a snapshot of its folded state, so writing it is idempotent;
the counters table follows the visit events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from functools import partial
from typing import Generic, TypeVar
from uuid import UUID

import asyncpg

from services.reception.command_types import CounterRead
from services.reception.counter import Counter
from services.reception.decider import Visit
from services.reception.phone import PhoneCall
from shared import db_batch
from shared.contracts.reception import (
    VisitAbandoned,
    VisitCalled,
    VisitLeft,
    VisitNoShow,
    VisitServed,
)
from shared.envelope import Envelope
from shared.sla.policy import PolicyBook

_Run = Callable[..., Awaitable[object]]
"""Runs one write: ``conn.execute`` now, or queued with the append (``shared.db_batch``)."""

S = TypeVar("S")

_FREED_BY = {VisitServed.event_type, VisitNoShow.event_type, VisitAbandoned.event_type, VisitLeft.event_type}


def local_day(book: PolicyBook, branch_id: str, at: datetime) -> date:
    """The branch's calendar date at ``at`` (ticket numbers and statistics are per local day)."""
    return at.astimezone(book.calendar(branch_id).tz).date()


class _StateRows(Generic[S]):
    """Rows that follow a stream's folded state, written by :meth:`_write` through ``run``."""

    async def write(self, conn: asyncpg.Connection, state: S, envelopes: Sequence[Envelope]) -> None:
        """Write the rows now, one statement each (a rebuild folding the store)."""
        await self._write(conn.execute, state, envelopes)

    async def queue(self, conn: asyncpg.Connection, state: S, envelopes: Sequence[Envelope]) -> None:
        """Queue the rows with the command's append (``shared.db_batch``): one statement with it."""
        await self._write(partial(db_batch.write, conn), state, envelopes)

    async def _write(self, run: _Run, state: S, envelopes: Sequence[Envelope]) -> None:
        raise NotImplementedError


class VisitRows(_StateRows[Visit]):
    """The ``visits`` and ``counters`` tables. Safe to batch (:meth:`queue`): the visit row, the
    counter it is called to and the counters it leaves are distinct rows, and no write reads
    another's result."""

    def __init__(self, book: PolicyBook) -> None:
        self.book = book

    async def queue(  # type: ignore[override]
        self,
        conn: asyncpg.Connection,
        state: Visit,
        envelopes: Sequence[Envelope],
        opened: Counter | None = None,
        read: CounterRead | None = None,
    ) -> None:
        """:meth:`_StateRows.queue`; ``opened``: the counter the call opened, whose row is written
        here with the customer at it (its own command left it: ``Counters.before_call``);
        ``read``: the counter's row as call-next read it without a lock: written only if it is
        still so (:data:`COUNTER_MOVED`)."""
        await self._write(partial(db_batch.write, conn), state, envelopes, opened, read)

    async def _write(
        self,
        run: _Run,
        state: Visit,
        envelopes: Sequence[Envelope],
        opened: Counter | None = None,
        read: CounterRead | None = None,
    ) -> None:
        if not envelopes:
            return
        branch_id = envelopes[0].branch_id
        version = envelopes[-1].stream_version
        await self._upsert(run, branch_id, state, version)
        counter_events = [e for e in envelopes if e.type == VisitCalled.event_type or e.type in _FREED_BY]
        # one counter write per command: two on one row in one batched statement would not both apply
        for env in counter_events[-1:]:
            if env.type == VisitCalled.event_type:
                await self._counter_busy(run, branch_id, state.visit_id, env.data, opened, read)
            else:
                await self._counter_free(run, branch_id, state.visit_id, env.occurred_at)

    async def _upsert(self, run: _Run, branch_id: str, v: Visit, version: int) -> None:
        assert v.arrived_at is not None
        await run(
            """INSERT INTO visits (visit_id, branch_id, day, status, arrival, returning_customer,
                   customer_ref, display_name, relationship_manager, priority, accessibility, service_type,
                   line, ticket,
                   arrived_at, queued_at, first_called_at, last_called_at, calls, counter_id, staff_id,
                   served_at, left_at, left_reason, waited_seconds, service_seconds, document_checks,
                   first_check_complete, missing, sla_status, complaints, version)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,
                       $23,$24,$25,$26,$27,$28,$29,$30,$31,$32)
               ON CONFLICT (visit_id) DO UPDATE SET
                   status = EXCLUDED.status, customer_ref = EXCLUDED.customer_ref,
                   relationship_manager = EXCLUDED.relationship_manager, priority = EXCLUDED.priority,
                   accessibility = EXCLUDED.accessibility, service_type = EXCLUDED.service_type,
                   line = EXCLUDED.line, ticket = EXCLUDED.ticket, queued_at = EXCLUDED.queued_at,
                   first_called_at = EXCLUDED.first_called_at, last_called_at = EXCLUDED.last_called_at,
                   calls = EXCLUDED.calls, counter_id = EXCLUDED.counter_id, staff_id = EXCLUDED.staff_id,
                   served_at = EXCLUDED.served_at, left_at = EXCLUDED.left_at,
                   left_reason = EXCLUDED.left_reason, waited_seconds = EXCLUDED.waited_seconds,
                   service_seconds = EXCLUDED.service_seconds, document_checks = EXCLUDED.document_checks,
                   first_check_complete = EXCLUDED.first_check_complete, missing = EXCLUDED.missing,
                   sla_status = EXCLUDED.sla_status, complaints = EXCLUDED.complaints,
                   version = EXCLUDED.version
               WHERE visits.version < EXCLUDED.version""",
            v.visit_id,
            branch_id,
            local_day(self.book, branch_id, v.arrived_at),
            v.status.value,
            v.arrival,
            v.returning,
            v.customer_ref,
            v.display_name,
            v.relationship_manager,
            v.priority.value if v.priority else None,
            [a.value for a in v.accessibility],
            v.service_type.value if v.service_type else None,
            v.line,
            v.ticket,
            v.arrived_at,
            v.queued_at,
            v.first_called_at,
            v.last_called_at,
            v.calls,
            v.counter_id,
            v.staff_id,
            v.served_at,
            v.left_at,
            v.left_reason.value if v.left_reason else None,
            v.waited_seconds,
            _service_seconds(v),
            v.document_checks,
            v.first_check_complete,
            list(v.missing),
            v.sla_status,
            v.complaints,
            version,
        )

    async def _counter_busy(
        self,
        run: _Run,
        branch_id: str,
        visit_id: UUID | None,
        data: dict[str, object],
        opened: Counter | None = None,
        read: CounterRead | None = None,
    ) -> None:
        # a customer re-called from another counter frees the first one
        await run(
            """UPDATE counters SET visit_id = NULL, ticket = NULL, line = NULL, busy_since = NULL
               WHERE branch_id = $1 AND visit_id = $2 AND counter_id <> $3""",
            branch_id,
            visit_id,
            data["counter_id"],
        )
        at = datetime.fromisoformat(str(data["at"]))
        guard: tuple[object, ...] = ()
        if read is not None and (read.branch_id, read.counter_id) == (branch_id, data["counter_id"]):
            row = read.row or {}
            guard = (row.get("visit_id"), row.get("state"), row.get("state_since"))
        customer = (  # the customer at the counter: what both writes set
            branch_id,
            data["counter_id"],
            data["staff_id"],
            visit_id,
            data["ticket"],
            data["line"],
            at,
        )
        if opened is not None:
            # the counter's own row write (CounterRows) and this one, as one: what CounterRows
            # writes for an open counter, then the customer at it
            sql = _BUSY_OPENED_GUARDED if guard else _BUSY_OPENED
            await run(sql, *customer, opened.since or at, list(opened.lines), *guard)
            return
        await run(_BUSY_GUARDED if guard else _BUSY, *customer, *guard)

    async def _counter_free(self, run: _Run, branch_id: str, visit_id: UUID | None, at: datetime) -> None:
        await run(
            """UPDATE counters SET visit_id = NULL, ticket = NULL, line = NULL, busy_since = NULL,
                   last_active_at = greatest(last_active_at, $3)
               WHERE branch_id = $1 AND visit_id = $2""",
            branch_id,
            visit_id,
            at,
        )


#: a customer called to a counter ($1, $2) by staff $3: visit $4, ticket $5, line $6, at $7
_BUSY = """
INSERT INTO counters (branch_id, counter_id, staff_id, visit_id, ticket, line, busy_since,
    last_line, last_active_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $6, $7::timestamptz)
ON CONFLICT (branch_id, counter_id) DO UPDATE SET
    staff_id = EXCLUDED.staff_id, visit_id = EXCLUDED.visit_id, ticket = EXCLUDED.ticket,
    line = EXCLUDED.line, last_line = EXCLUDED.last_line,
    busy_since = CASE WHEN counters.visit_id = EXCLUDED.visit_id
                      THEN counters.busy_since ELSE EXCLUDED.busy_since END,
    last_active_at = EXCLUDED.last_active_at"""

#: :data:`_BUSY` at a counter the call opened: open since $8 for lines $9 (``CounterRows``)
_BUSY_OPENED = """
INSERT INTO counters (branch_id, counter_id, staff_id, visit_id, ticket, line, busy_since,
    last_line, last_active_at, state, pause_reason, state_since, lines)
VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $6, $7::timestamptz, 'open', NULL, $8, $9)
ON CONFLICT (branch_id, counter_id) DO UPDATE SET
    staff_id = EXCLUDED.staff_id, visit_id = EXCLUDED.visit_id, ticket = EXCLUDED.ticket,
    line = EXCLUDED.line, last_line = EXCLUDED.last_line,
    busy_since = CASE WHEN counters.visit_id = EXCLUDED.visit_id
                      THEN counters.busy_since ELSE EXCLUDED.busy_since END,
    last_active_at = EXCLUDED.last_active_at, state = EXCLUDED.state, pause_reason = NULL,
    state_since = EXCLUDED.state_since, lines = EXCLUDED.lines"""


#: what a call's write of its counter's row aborts with when the row is no longer as call-next
#: read it (without a lock): another call, a pause or a close got there first (``call_next.py``)
COUNTER_MOVED = "branchcare: counter moved"


def _guarded(sql: str, first: int) -> str:
    """``sql`` (:data:`_BUSY`, :data:`_BUSY_OPENED`) that writes over the counter's row only if the
    row is as it was read (visit ${first}, state ${first + 1}, since ${first + 2}; all NULL: there
    was none), else aborts its statement (a cast of :data:`COUNTER_MOVED` that fails). On a row a
    concurrent writer holds, ``ON CONFLICT DO UPDATE`` waits and then checks its latest version."""
    a, b, c = first, first + 1, first + 2
    check = (
        f"visit_id = CASE WHEN (counters.visit_id, counters.state, counters.state_since)\n"
        f"        IS NOT DISTINCT FROM (${a}::uuid, ${b}::text, ${c}::timestamptz) THEN EXCLUDED.visit_id\n"
        f"        ELSE ('{COUNTER_MOVED} ' || counters.branch_id || ' ' || counters.counter_id)::uuid\n"
        "    END, ticket"
    )
    guarded = sql.replace("visit_id = EXCLUDED.visit_id, ticket", check, 1)
    if guarded == sql:
        raise ValueError("not a counter's busy write")
    return guarded


_BUSY_GUARDED = _guarded(_BUSY, 8)
_BUSY_OPENED_GUARDED = _guarded(_BUSY_OPENED, 10)


def _service_seconds(v: Visit) -> float | None:
    if v.served_at is None or v.last_called_at is None:
        return None
    return max((v.served_at - v.last_called_at).total_seconds(), 0.0)


class CounterRows(_StateRows[Counter]):
    """The counter's state on its ``counters`` row (busy/free follows the visit events)."""

    async def _write(self, run: _Run, state: Counter, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        at = state.since or envelopes[-1].occurred_at
        await run(
            """INSERT INTO counters (branch_id, counter_id, staff_id, state, pause_reason, state_since, lines,
                   last_active_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $6)
               ON CONFLICT (branch_id, counter_id) DO UPDATE SET
                   state = EXCLUDED.state, pause_reason = EXCLUDED.pause_reason,
                   state_since = EXCLUDED.state_since, lines = EXCLUDED.lines,
                   staff_id = coalesce(EXCLUDED.staff_id, counters.staff_id),
                   last_active_at = greatest(counters.last_active_at, EXCLUDED.last_active_at)""",
            envelopes[0].branch_id,
            state.counter_id,
            state.staff_id,
            state.status.value,
            state.pause_reason.value if state.pause_reason else None,
            at,
            list(state.lines),
        )


class CallRows:
    """The ``calls`` table."""

    async def write(self, conn: asyncpg.Connection, state: PhoneCall, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        c = state
        await conn.execute(
            """INSERT INTO calls (call_id, branch_id, status, received_at, answered_at, staff_id, rings,
                   seconds_to_answer, within_target, purpose, routed_to, outcome, ended_at, sla_status,
                   version)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
               ON CONFLICT (call_id) DO UPDATE SET
                   status = EXCLUDED.status, answered_at = EXCLUDED.answered_at,
                   staff_id = EXCLUDED.staff_id, rings = EXCLUDED.rings,
                   seconds_to_answer = EXCLUDED.seconds_to_answer,
                   within_target = EXCLUDED.within_target, purpose = EXCLUDED.purpose,
                   routed_to = EXCLUDED.routed_to, outcome = EXCLUDED.outcome, ended_at = EXCLUDED.ended_at,
                   sla_status = EXCLUDED.sla_status, version = EXCLUDED.version
               WHERE calls.version < EXCLUDED.version""",
            c.call_id,
            envelopes[0].branch_id,
            c.status.value,
            c.received_at,
            c.answered_at,
            c.staff_id,
            c.rings,
            c.seconds_to_answer,
            c.within_target,
            c.purpose.value if c.purpose else None,
            c.routed_to,
            c.outcome.value if c.outcome else None,
            c.ended_at,
            c.sla_status,
            envelopes[-1].stream_version,
        )
