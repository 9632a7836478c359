"""Counter command handling: the counter decider's commands in one transaction each, and the step
a call takes on its counter (inside the call's own transaction).

Lock order as everywhere in reception (``app.py``): the counter's ``counters`` row
(``FOR UPDATE``, it says whether a customer is at it), then the counter's stream, then the row's
state. A call locks the same row first, so a call and a pause of one counter never interleave;
call-next reads it unlocked and writes it only if unchanged (``projections.COUNTER_MOVED``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import asyncpg

from services.reception import counter as k
from services.reception.command_types import SubjectLocks
from services.reception.projections import CounterRows, local_day
from services.reception.queries import day_bounds
from shared import append_many
from shared.clock import Clock
from shared.commands import CommandHandler, CommandResult, Loaded
from shared.envelope import Envelope, Metadata
from shared.eventstore import EventStore
from shared.sla.policy import PolicyBook

#: ``Loaded.locked`` of a counter command run for a call that writes the counter's row itself
_CALL_WRITES_ROW = object()


class Counters:
    def __init__(self, service: str, store: EventStore, clock: Clock, book: PolicyBook) -> None:
        self.book = book
        self.rows = CounterRows()
        self.commands = CommandHandler(
            service=service,
            store=store,
            decider=k.counter_decider,
            clock=clock,
            after_change=self._queue_row,
            retries=5,
        )

    async def _queue_row(
        self,
        conn: asyncpg.Connection,
        before: k.Counter,
        state: k.Counter,
        envelopes: Sequence[Envelope],
        locked: object = None,
    ) -> None:
        if locked is _CALL_WRITES_ROW:
            return  # the call's visit rows write it (before_call)
        await self.rows.queue(conn, state, envelopes)

    async def run(
        self,
        branch_id: str,
        counter_id: str,
        build: Callable[[str | None], k.CounterCommand],
        *,
        meta: Metadata,
    ) -> CommandResult[k.Counter]:
        """Run a counter command; ``build`` gets the ticket of the customer at the counter now
        (None when free), read and locked in the command's transaction."""

        async def make(conn: asyncpg.Connection, _: Loaded[k.Counter]) -> k.CounterCommand:
            busy = await conn.fetchval(
                """SELECT ticket FROM counters WHERE branch_id = $1 AND counter_id = $2
                   AND visit_id IS NOT NULL FOR UPDATE""",
                branch_id,
                counter_id,
            )
            return build(busy)

        return await self.commands.execute(
            k.stream_id(branch_id, counter_id), make, meta=meta, branch_id=branch_id, must_exist=False
        )

    async def before_call(
        self,
        conn: asyncpg.Connection,
        branch_id: str,
        counter_id: str,
        staff_id: str,
        at: datetime,
        meta: Metadata,
        *,
        preloaded: Loaded[k.Counter] | None = None,
        call_locks: object = None,
    ) -> None:
        """In the call's transaction: refuse a paused counter, open a closed one (``counter.py``).
        No savepoint: the call's transaction (call-next: its statement) is retried whole on a
        conflict (and the ``counters`` row, locked first by the call or checked unchanged by
        call-next's write of it, already serialises the counter's writers). The counter's
        append is queued: it goes to PostgreSQL in one statement with the call's own.
        ``preloaded``: the counter's stream as the call's first statement read it (call-next).

        ``call_locks``: what the call locked first (its ``Loaded.locked``). When it is the
        call's :class:`SubjectLocks`, a counter the call opens has its row written by the call's
        visit rows (``SubjectLocks.opened``), with the customer at it, instead of here: one write
        of the row, so the counter's append and the call's may go as one statement
        (``shared.append_many``)."""
        call = call_locks if isinstance(call_locks, SubjectLocks) else None
        stream = k.stream_id(branch_id, counter_id)
        if call is not None:
            loaded = preloaded or await self.commands.load(stream, conn)
            preloaded = replace(loaded, locked=_CALL_WRITES_ROW)
        result = await self.commands.execute_in(
            conn,
            stream,
            k.BeforeCall(
                counter_id=counter_id, staff_id=staff_id, at=at, day_start=self.day_start(branch_id, at)
            ),
            meta=meta,
            branch_id=branch_id,
            must_exist=False,
            savepoint=False,
            load=True,
            preloaded=preloaded,
        )
        if call is not None and result.events:
            call.opened.append(result.state)
            append_many.let_join(conn)

    def day_start(self, branch_id: str, at: datetime) -> datetime:
        """The start of the branch's local day at ``at`` (a counter is open for a day)."""
        start, _ = day_bounds(self.book, branch_id, local_day(self.book, branch_id, at))
        return start

    async def load(self, branch_id: str, counter_id: str) -> Loaded[k.Counter]:
        return await self.commands.load(k.stream_id(branch_id, counter_id))
