"""What a reception command locks first, and reads in the same statement (``lock_first``).

Lock order as everywhere in reception (``app.py``): the subject's deadline rows, then the counter's
row. One statement locks them, reads the deadline rows and loads the visit's (or call's) stream.
call-next's first statement (``call_next.py``) picks the visit from the lobby board and reads the
same (and the counter's row and, unless the row shows the counter open today, the counter's
stream) but locks nothing: call-next is one statement after it, whose checks serialise instead
(the appends' version checks, the counter row's write checking the row is as read). What it read
travels as a value (:class:`~services.reception.command_types.SubjectLocks` in ``Loaded.locked``,
then ``after_change``'s last argument): the command reads nothing again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.reception import counter as k
from services.reception.command_types import CounterRead, SubjectLocks
from services.reception.counter_app import Counters
from shared.commands import Loaded, Locked, history_sql
from shared.sla.deadlines import DeadlineCache, Deadlines, from_row

#: a subject's deadline rows locked and read with its stream (``CommandHandler.stream_sql``: ``$1``)
_LOCK_SUBJECT = """
SELECT s.*, d.* FROM ({stream}) AS s
LEFT JOIN LATERAL (SELECT * FROM deadlines WHERE subject_id = $2 FOR UPDATE) AS d ON true
"""

#: the counter's row, and the counter's stream read unless the row shows it open since the day's
#: start ($5): branch $3, counter $4, the counter's stream $6 (read, not locked: call-next's write
#: of the row checks it is unchanged, ``projections.COUNTER_MOVED``)
_COUNTER = """
LEFT JOIN LATERAL (
    SELECT r.visit_id, r.ticket, r.state, r.state_since,
           CASE WHEN r.state = 'open' AND r.state_since >= $5 THEN NULL ELSE {counter_history} END AS history
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT visit_id, ticket, state, state_since FROM counters
        WHERE branch_id = $3 AND counter_id = $4
    ) AS r ON true
) AS c ON true
"""

_COUNTER_COLUMNS = """c.visit_id AS counter_visit_id, c.ticket AS counter_ticket,
       c.state AS counter_state, c.state_since AS counter_state_since, c.history AS counter_history"""

#: call-next's first statement (issue 19): the next visit of line $2 (branch $3) picked from the
#: lobby board (priority first, then by ticket; not those of $1, found no longer waiting), its
#: deadline rows and its stream read, then the counter (:data:`_COUNTER`); no row: nobody is
#: waiting. Nothing is locked: a visit called meanwhile by another counter (or whose deadline the
#: SLA scheduler fired: it appends to the visit's stream too) fails this attempt at the append's
#: version check, and the next attempt picks afresh.
_PICK_CALL = f"""
WITH pick AS (
    SELECT 'visit-' || visit_id AS stream_id, visit_id::text AS subject FROM visits
    WHERE branch_id = $3 AND line = $2 AND status = 'queued' AND visit_id <> ALL($1::uuid[])
    ORDER BY (priority IS NOT NULL) DESC, queued_at, ticket LIMIT 1
)
SELECT p.stream_id AS picked, {history_sql("p.stream_id")} AS history, d.*, {_COUNTER_COLUMNS}
FROM pick AS p
LEFT JOIN LATERAL (SELECT * FROM deadlines WHERE subject_id = p.subject) AS d ON true
{_COUNTER}
"""


def subject_of(stream_id: str) -> str:
    """The subject of a visit's or call's stream (``visit-<id>`` → ``<id>``)."""
    return stream_id.split("-", 1)[1]


def _cache(deadlines: Deadlines, subject: str, rows: Sequence[asyncpg.Record]) -> DeadlineCache:
    """The deadline rows of the statement's answer (none: one row of NULLs)."""
    return DeadlineCache(deadlines, subject, [from_row(r) for r in rows if r["deadline_id"]])


async def lock_subject(
    conn: asyncpg.Connection, deadlines: Deadlines, stream_id: str, stream_sql: str
) -> Locked:
    """The subject's deadline rows locked and read, with its stream (:data:`_LOCK_SUBJECT`)."""
    subject = subject_of(stream_id)
    rows = await conn.fetch(_LOCK_SUBJECT.format(stream=stream_sql), stream_id, subject)
    return Locked(SubjectLocks(_cache(deadlines, subject, rows)), rows[0])


async def pick_for_call(
    conn: asyncpg.Connection,
    deadlines: Deadlines,
    counters: Counters,
    branch_id: str,
    line: str,
    counter_id: str,
    now: datetime,
    passed: Sequence[UUID] = (),
) -> tuple[str, Locked] | None:
    """call-next's first statement (:data:`_PICK_CALL`): the stream of the visit it picked and
    what it read (``Locked.stream``: the stream's row for
    ``CommandHandler.loaded_from``); None when nobody is waiting. ``passed``: visits to leave
    out (found no longer waiting by an earlier attempt)."""
    sql = _PICK_CALL.format(counter_history=history_sql("$6"))
    day_start = counters.day_start(branch_id, now)
    counter_stream = k.stream_id(branch_id, counter_id)
    rows = await conn.fetch(sql, list(passed), line, branch_id, counter_id, day_start, counter_stream)
    if not rows:
        return None
    stream_id = rows[0]["picked"]
    return stream_id, _call_locks(deadlines, counters, subject_of(stream_id), branch_id, counter_id, rows)


def _call_locks(
    deadlines: Deadlines,
    counters: Counters,
    subject: str,
    branch_id: str,
    counter_id: str,
    rows: Sequence[asyncpg.Record],
) -> Locked:
    """What a call's first statement locked and read: the visit's deadlines and the counter."""
    first = rows[0]
    row = None
    if first["counter_state"] is not None:
        row = {
            "visit_id": first["counter_visit_id"],
            "ticket": first["counter_ticket"],
            "state": first["counter_state"],
            "state_since": first["counter_state_since"],
        }
    history = first["counter_history"]
    loaded = None if history is None else counters.commands.loaded_from({"history": history})
    counter = CounterRead(branch_id, counter_id, row, loaded)
    return Locked(SubjectLocks(_cache(deadlines, subject, rows), counter), first)


async def counter_row(
    conn: asyncpg.Connection, locked: object, branch_id: str, counter_id: str
) -> tuple[Mapping[str, Any] | None, Loaded[k.Counter] | None]:
    """The counter's row (locked) and, when read with it, its stream, for a call: as call-next's
    first statement read them (``locked``), else the row locked and read now."""
    read = locked.counter if isinstance(locked, SubjectLocks) else None
    if read is not None and (read.branch_id, read.counter_id) == (branch_id, counter_id):
        return read.row, read.loaded
    row = await conn.fetchrow(
        """SELECT visit_id, ticket, state, state_since FROM counters
           WHERE branch_id = $1 AND counter_id = $2 FOR UPDATE""",
        branch_id,
        counter_id,
    )
    return row, None
