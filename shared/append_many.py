"""Several streams' appends of one transaction sent as ONE statement (issue 19).

A command that moves a second stream as well (call-next opening its counter, a progress update
starting its successor) queues two appends (``EventStore.append_later``). ``shared.db_batch`` keeps
one statement whose answer is wanted at the end of a batch, so the second append used to send the
first (with the writes queued so far) as a round trip of its own. Here the second joins the first
instead: :data:`APPEND_MANY` checks every stream's expected version and log order (as the single
append does) and inserts every event or none, with all the queued writes in front of it.

Only on request (:func:`let_join`, before the second append is queued): every write of one
statement must touch a row no other write of it touches (``shared.db_batch``'s rule), and two
commands of one transaction may well write the same row; the caller that lets them join knows
their writes are apart (call-next's counter row is written once, by the visit's rows, when the
call opens the counter). A stream already queued is not joined (its version check would not see
its queued events): that append sends the queued one first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import asyncpg

from shared import db_batch, one_statement, tracing
from shared.envelope import Envelope
from shared.event_rows import event_row
from shared.horizon import WRITER_LOCK_CLASS

if TYPE_CHECKING:
    from shared.eventstore import EventStore

log = logging.getLogger(__name__)

#: a stream, the version it is expected at, and its new events
Part = tuple[str, int, Sequence[Envelope]]

#: each stream's version and log order checked, every event inserted or none (a data-modifying CTE
#: runs whether or not it is read); one row per stream, a refused one first (``shared.db_batch``
#: checks the first row). The writers' lock as in ``shared.eventstore``'s single append.
APPEND_MANY = """
WITH writers_lock AS (SELECT pg_advisory_xact_lock_shared($16::int, $17::int)),
cur AS (
    SELECT s.stream_id, s.expected, s.ord, coalesce(l.stream_version, 0) AS v,
           coalesce(l.tx_id <= pg_current_xact_id(), true) AS in_log_order
    FROM writers_lock, unnest($1::text[], $2::int[]) WITH ORDINALITY AS s(stream_id, expected, ord)
    LEFT JOIN LATERAL (
        SELECT stream_version, tx_id FROM events e WHERE e.stream_id = s.stream_id
        ORDER BY stream_version DESC LIMIT 1
    ) l ON true
), ins AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, branch_id,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, data, traceparent)
    SELECT e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version, e.branch_id,
           e.occurred_at, e.recorded_at, e.correlation_id, e.causation_id, e.actor, e.data::jsonb,
           e.traceparent
    FROM unnest($3::text[], $4::uuid[], $5::int[], $6::text[], $7::int[], $8::text[],
                $9::timestamptz[], $10::timestamptz[], $11::uuid[], $12::uuid[], $13::text[],
                $14::text[], $15::text[])
         WITH ORDINALITY AS e(stream_id, event_id, stream_version, type, schema_version, branch_id,
                              occurred_at, recorded_at, correlation_id, causation_id, actor, data,
                              traceparent, ord)
    WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.v <> cur.expected OR NOT cur.in_log_order)
    ORDER BY e.ord
)
SELECT c.stream_id, c.v AS current, c.in_log_order, c.v = c.expected AND c.in_log_order AS ok
FROM cur c
ORDER BY ok, c.ord
"""

#: :data:`APPEND_MANY` as the one statement of a command outside a transaction
#: (``shared.one_statement``): a stream refused aborts the whole statement, its queued writes with
#: it (an implicit transaction commits what ran), with the error :func:`one_statement.refused_append`
#: reads back as the :class:`~shared.eventstore.ConcurrencyError`
APPEND_MANY_OR_ABORT = APPEND_MANY.replace(
    "SELECT c.stream_id, c.v AS current,",
    f"""SELECT c.stream_id, CASE WHEN c.v = c.expected AND c.in_log_order THEN c.v
       ELSE ('{one_statement.APPEND_REFUSED} ' || c.stream_id || ' ' || c.expected || ' ' || c.v || ' '
             || c.in_log_order)::int END AS current,""",
)


@dataclass(frozen=True)
class QueuedAppend(db_batch.Last):
    """An append queued as a batch's last statement, and what it appends (so that another
    stream's append can join it)."""

    store: EventStore | None = None
    parts: tuple[Part, ...] = ()
    #: the next stream's append may join this one (:func:`let_join`)
    joinable: bool = False


def let_join(conn: asyncpg.Connection) -> None:
    """Let the next stream's append on ``conn`` join the append queued there now (if any): the
    caller vouches that the writes queued from now on touch other rows than those queued so far."""
    batch = db_batch.pending(conn)
    if batch is not None and isinstance(batch.last, QueuedAppend):
        batch.last = replace(batch.last, joinable=True)


def joined(store: EventStore, conn: asyncpg.Connection, part: Part) -> bool:
    """Whether ``part`` joined another stream's append of ``store`` queued on ``conn`` and let join
    (:func:`let_join`): the batch then ends with one statement appending to both
    (:data:`APPEND_MANY`)."""
    batch = db_batch.pending(conn)
    queued = None if batch is None else batch.last
    if batch is None or not isinstance(queued, QueuedAppend) or queued.store is not store:
        return False
    if not queued.joinable:
        return False
    if any(stream_id == part[0] for stream_id, _, _ in queued.parts):
        return False
    batch.last = together(store, (*queued.parts, part), abort=not conn.is_in_transaction())
    return True


def together(store: EventStore, parts: tuple[Part, ...], *, abort: bool = False) -> QueuedAppend:
    """The statement appending ``parts`` (versions continuing each stream) in one go (``abort``:
    outside a transaction, :data:`APPEND_MANY_OR_ABORT`)."""
    traceparent = tracing.current_traceparent()
    for stream_id, version, events in parts:
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != version + offset:
                raise ValueError(
                    f"event {env.type} has stream {env.stream_id} v{env.stream_version}, "
                    f"expected {stream_id} v{version + offset}"
                )
    expected = {stream_id: version for stream_id, version, _ in parts}
    rows = ((env, traceparent) for _, _, events in parts for env in events)
    args = arguments(store, expected, rows)

    def check(row: asyncpg.Record | None) -> None:
        assert row is not None
        raise_refused([row], expected)

    def refused(exc: asyncpg.UniqueViolationError) -> Exception | None:
        return clash(exc, expected)

    return QueuedAppend(APPEND_MANY_OR_ABORT if abort else APPEND_MANY, args, check, refused, store, parts)


async def append(
    conn: asyncpg.Connection,
    store: EventStore,
    expected: Mapping[str, int],
    rows: Iterable[tuple[Envelope, str | None]],
) -> None:
    """Append ``rows`` (each event with its trace) to the streams of ``expected`` (stream → the
    version it is expected at) now, in one statement: :class:`~shared.eventstore.ConcurrencyError`
    if any stream moved, and then nothing is appended."""
    try:
        answer = await conn.fetch(APPEND_MANY, *arguments(store, expected, rows))
    except asyncpg.UniqueViolationError as exc:
        refusal = clash(exc, expected)
        if refusal is None:
            raise
        raise refusal from None
    raise_refused(answer, expected)


def arguments(
    store: EventStore, expected: Mapping[str, int], rows: Iterable[tuple[Envelope, str | None]]
) -> tuple[object, ...]:
    """:data:`APPEND_MANY`'s arguments: each stream at its expected version, then ``rows``' columns
    (each event's own stream, in the order given: a stream's versions ascending)."""
    columns: list[list[object]] = [[] for _ in range(13)]
    for env, traceparent in rows:
        values = (env.stream_id, *event_row(env, store.max_event_bytes), traceparent)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return (list(expected), list(expected.values()), *columns, WRITER_LOCK_CLASS, store.lock_key)


def raise_refused(answer: Iterable[asyncpg.Record], expected: Mapping[str, int]) -> None:
    """:class:`~shared.eventstore.ConcurrencyError` for the first stream :data:`APPEND_MANY` found
    moved (or last written by a younger transaction), if any."""
    from shared.eventstore import ConcurrencyError

    for row in answer:
        if not row["ok"]:
            stream_id = row["stream_id"]
            if not row["in_log_order"] and row["current"] == expected[stream_id]:
                log.info("stream %s was last written by a younger transaction; retry afresh", stream_id)
            raise ConcurrencyError(stream_id, expected[stream_id], row["current"])


def clash(exc: asyncpg.UniqueViolationError, expected: Mapping[str, int]) -> Exception | None:
    """A duplicate event key: another writer appended to one of the streams first (a
    :class:`~shared.eventstore.ConcurrencyError`); any other unique violation is not ours (None)."""
    from shared.eventstore import ConcurrencyError

    if exc.table_name != "events":
        return None
    stream_id = next(iter(expected))
    return ConcurrencyError(stream_id, expected[stream_id])
