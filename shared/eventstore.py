"""The PostgreSQL event store: append with optimistic concurrency, read a stream, read all.

``append`` is one SQL statement (atomic on its own, or part of the caller's transaction): it
inserts the events only if the stream is still at ``expected_version``; a concurrent writer that
got there first makes it fail with :class:`ConcurrencyError` (unique ``(stream_id, version)``).

Reading "all events after P" is safe against late commits: a ``bigserial`` taken by a slow
transaction can become visible after larger ones. Each row stores its writing transaction id and
the global log is ordered by ``(tx_id, position)``, not by ``position`` alone: readers only take
rows of transactions older than every transaction still in flight *that can append here*
(``shared.horizon``: not the whole server's ``pg_snapshot_xmin``, which one long transaction in
another database would hold back), and anything that commits later has a transaction id at
least that large, so it sorts after whatever
has been read. (A checkpoint on ``position`` alone is not enough: a transaction with an older id
can take a larger position than a younger one still in flight, e.g. with two appends in one
transaction, and a position checkpoint would then pass over the younger one's event.) Appends
stay concurrent (no table lock), so group commit lifts throughput above one fsync per append.

Per-stream order holds in the log too: an append refuses (``ConcurrencyError``) to extend a
stream whose last event was written by a transaction younger than its own, which can only
happen to a transaction that wrote something else before reading the stream; its retry runs in a
fresh transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar
from uuid import UUID

import asyncpg

from shared import append_many, db_batch, one_statement, tracing
from shared.commit_notifier import CommitNotifier
from shared.dbfaults import (
    DatabaseUnavailable,
    OutcomeUnknown,
    is_broken_connection,
    is_connection_error,
    proves_nothing_ran,
)
from shared.envelope import Envelope
from shared.event_rows import events_json
from shared.horizon import BLOCKERS, WRITER_LOCK_CLASS, horizon_sql, writer_lock_key
from shared.registry import REGISTRY, EventRegistry

log = logging.getLogger(__name__)

T = TypeVar("T")


class ConcurrencyError(Exception):
    """The stream moved on since it was read: ``expected_version`` is stale."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None):
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "" if actual_version is None else f", it is at {actual_version}"
        super().__init__(
            f"stream {stream_id} was changed by someone else: expected version {expected_version}{actual}"
        )


class LogPosition(NamedTuple):
    """A place in the global log, which is ordered by (writing transaction id, position)."""

    tx_id: int
    position: int


#: before the first event
LOG_START = LogPosition(0, 0)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    branch_id: str
    type: str
    json: str  # the whole envelope, as it goes on the wire
    tx_id: int = 0
    traceparent: str | None = None  # of the command that appended it (shared.tracing)

    @property
    def log_position(self) -> LogPosition:
        return LogPosition(self.tx_id, self.position)


_APPEND = """
WITH last AS (
    SELECT stream_version, tx_id FROM events WHERE stream_id = $1
    ORDER BY stream_version DESC LIMIT 1
), cur AS (
    -- the writers' lock comes first, before this transaction has an id (shared.horizon)
    SELECT coalesce((SELECT stream_version FROM last), 0) AS v,
           coalesce((SELECT tx_id FROM last) <= pg_current_xact_id(), true) AS in_log_order
    FROM (SELECT pg_advisory_xact_lock_shared($5::int, $6::int)) AS writers_lock
), ins AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, branch_id,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, data, traceparent)
    SELECT e.event_id, $1, e.stream_version, e.type, e.schema_version, e.branch_id, e.occurred_at,
           e.recorded_at, e.correlation_id, e.causation_id, e.actor, e.data, $4::text
    FROM ROWS FROM (json_to_recordset($3::json)
             AS (event_id uuid, stream_version int, type text, schema_version int, branch_id text,
                 occurred_at timestamptz, recorded_at timestamptz, correlation_id uuid,
                 causation_id uuid, actor text, data jsonb)) WITH ORDINALITY
         AS e(event_id, stream_version, type, schema_version, branch_id, occurred_at, recorded_at,
              correlation_id, causation_id, actor, data, n),
         cur
    WHERE cur.v = $2 AND cur.in_log_order
    ORDER BY e.n  -- positions in the events' order (a stream's versions ascending)
    RETURNING position
)
SELECT (SELECT v FROM cur) AS current, (SELECT in_log_order FROM cur) AS in_log_order,
       (SELECT count(*) FROM ins) AS inserted
"""
"""The append: the events as ONE JSON parameter (``$3``, :func:`~shared.event_rows.events_json`),
not eleven arrays, which cost asyncpg an iterable check and an element encoder per column on
every command (issue 19); ``$4`` the traceparent, ``$5``/``$6`` the writers' lock."""

#: one stored event as its envelope's JSON (a SQL expression over a row of ``events``): every
#: reader of the store (streams, the log, reactions' batch loads, ``branchcare stream show``)
ENVELOPE_JSON = """json_build_object(
    'event_id', event_id, 'type', type, 'schema_version', schema_version,
    'stream_id', stream_id, 'stream_version', stream_version, 'branch_id', branch_id,
    'occurred_at', occurred_at, 'recorded_at', recorded_at, 'correlation_id', correlation_id,
    'causation_id', causation_id, 'actor', actor, 'data', data)::text"""

_READ_ALL = f"""
SELECT tx_id, position, branch_id, type, schema_version, traceparent, {ENVELOPE_JSON} AS json
FROM events
WHERE (tx_id, position) > ($1::xid8, $2::bigint)
  AND tx_id < {horizon_sql("$1::xid8", "$2::bigint", "$4", "$5", "$6")}
ORDER BY tx_id, position
LIMIT $3
"""

#: the append sent as the one statement of a command outside a transaction (``shared.one_statement``):
#: events not inserted abort it; ``$7`` is the number of events
_APPEND_OR_ABORT = one_statement.aborting(_APPEND, 7)

_WRITERS_LOCK = "SELECT pg_advisory_xact_lock_shared($1::int, $2::int)"

_STORED = "SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1)"

_ANY_AFTER = """
SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint))
"""


Conn: TypeAlias = asyncpg.Connection | None
Prelude: TypeAlias = Callable[[int], tuple[str, Sequence[object]]] | None
"""A write in the same statement as a read of the log (one round trip: the relay's checkpoint):
given the read's first free parameter number, a data-modifying ``WITH`` item and its arguments."""


def _with(also: Prelude, query: str, args: Sequence[object]) -> tuple[str, Sequence[object]]:
    if also is None:
        return query, args
    item, more = also(len(args) + 1)
    return f"WITH {item}\n{query}", (*args, *more)


def _check_appended(row: asyncpg.Record | None, stream_id: str, expected_version: int, count: int) -> None:
    """The append statement's answer: all ``count`` events inserted, or :class:`ConcurrencyError`."""
    assert row is not None
    if row["inserted"] != count:
        if not row["in_log_order"] and row["current"] == expected_version:
            log.info("stream %s was last written by a younger transaction; retry afresh", stream_id)
        raise ConcurrencyError(stream_id, expected_version, row["current"])


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel: str,
        registry: EventRegistry = REGISTRY,
        max_event_bytes: int = 64 * 1024,
        before_commit: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
        commit_failed: Callable[[], None] | None = None,
        writer_name: str | None = None,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.max_event_bytes = max_event_bytes
        self.notifier = CommitNotifier(pool, channel)
        #: last writes of every :meth:`transaction` that succeeded, just before it commits (the
        #: request's audit row: ``shared.audit.write_in_transaction``)
        self.before_commit = before_commit
        #: called when the COMMIT (or the statement carrying the queued writes) fails: what
        #: ``before_commit`` wrote is not (surely) there
        #: (``shared.audit.forget_written``: the request's row is then written after the answer)
        self.commit_failed = commit_failed
        #: ``application_name`` of the sessions that may append (the service's pool); None: any
        #: session of this database may (``shared.horizon``)
        self.writer_name = writer_name
        self.lock_key = writer_lock_key(channel)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction for an append plus other writes (deadlines, counters) of a command.

        Database faults come out as :class:`~shared.dbfaults.DatabaseUnavailable` (nothing was
        recorded: before or inside the transaction, which PostgreSQL rolls back) or
        :class:`~shared.dbfaults.OutcomeUnknown` (the connection broke during COMMIT). A stale
        pooled connection is replaced once, at BEGIN, before anything was sent.
        """
        conn, tx = await self._begin()
        before_commit_ran = False
        try:
            try:
                with db_batch.opened(conn):
                    yield conn
                    if self.before_commit is not None:
                        before_commit_ran = True
                        await self.before_commit(conn)
                    await db_batch.flush(conn)  # the queued writes and the append: one statement
            except BaseException as exc:
                if before_commit_ran and self.commit_failed is not None:
                    self.commit_failed()  # what it queued went nowhere: the rollback takes it
                with suppress(Exception):
                    await tx.rollback()
                if is_broken_connection(exc):
                    raise DatabaseUnavailable(f"transaction aborted: {exc!r}") from exc
                raise
            try:
                await tx.commit()
            except Exception as exc:
                if self.commit_failed is not None:
                    self.commit_failed()  # the audit row went with the transaction, or may have
                if not is_broken_connection(exc):
                    raise
                if proves_nothing_ran(exc):
                    raise DatabaseUnavailable(f"commit refused: {exc!r}") from exc
                raise OutcomeUnknown(f"connection lost during COMMIT: {exc!r}") from exc
        finally:
            await self.pool.release(conn)
        self.notifier.poke()

    async def one_statement(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``work(conn)`` for a command whose writes are all queued (``shared.db_batch``) and whose
        reads lock nothing: no ``BEGIN``, no ``COMMIT``; its writes and append go as one statement
        (PostgreSQL's implicit transaction) when ``work`` returns (``shared.one_statement``)."""
        return await one_statement.run(self, work)

    async def _acquire(self) -> asyncpg.Connection:
        """A pooled connection; none to be had (the server is down or refuses) is
        :class:`DatabaseUnavailable`."""
        try:
            return await self.pool.acquire()
        except Exception as exc:
            if is_connection_error(exc):
                raise DatabaseUnavailable(f"no connection: {exc!r}") from exc
            raise

    async def _begin(self) -> tuple[asyncpg.Connection, Any]:
        """A pooled connection with a transaction started; a connection that turns out broken at
        BEGIN (the server restarted since it was pooled) is replaced once."""
        for attempt in (1, 2):
            conn = await self._acquire()
            tx = conn.transaction()
            try:
                await tx.start()
                if not self._counted_by_name(conn):
                    # a writer before this transaction has an id: the relay waits for it (shared.horizon)
                    await conn.execute(_WRITERS_LOCK, WRITER_LOCK_CLASS, self.lock_key)
                return conn, tx
            except Exception as exc:
                await self.pool.release(conn)
                if not is_broken_connection(exc):
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable(f"BEGIN failed: {exc!r}") from exc
                log.info("pooled connection broken at BEGIN (%s); retrying once", type(exc).__name__)
                await self.pool.expire_connections()
        raise AssertionError("unreachable")

    def _counted_by_name(self, conn: asyncpg.Connection) -> bool:
        """Whether the horizon counts this session's transactions without the writers' lock.

        ``shared.horizon`` ignores an in-flight transaction only when its session is of another
        ``application_name`` than ``writer_name`` and holds no writers' lock. A session of the
        writer's own pool (the runner names it so), or any session when there is no writer name,
        is counted whatever it holds: the lock right after BEGIN would be a round trip that
        changes nothing. Other sessions (a tool's pool) still take it. ``application_name`` is
        reported by the server at connect and on every change, so this costs no round trip."""
        if self.writer_name is None:
            return True
        return getattr(conn.get_settings(), "application_name", None) == self.writer_name

    async def append_later(
        self, conn: asyncpg.Connection, stream_id: str, expected_version: int, events: Sequence[Envelope]
    ) -> int:
        """:meth:`append`, sent with the writes queued on ``conn`` (``shared.db_batch``) as one
        statement when the transaction flushes; at once when nothing is queued there. Its
        :class:`ConcurrencyError` then comes from the flush (the commit of
        :meth:`transaction`), which rolls everything back. Another stream's append queued there
        and let join (``shared.append_many.let_join``) is not sent first: both go as one
        statement."""
        if not events:
            return expected_version
        if append_many.joined(self, conn, (stream_id, expected_version, events)):
            return expected_version + len(events)
        args = self._arguments(stream_id, expected_version, events)

        def check(row: asyncpg.Record | None) -> None:
            _check_appended(row, stream_id, expected_version, len(events))

        def refused(exc: asyncpg.UniqueViolationError) -> Exception | None:
            return ConcurrencyError(stream_id, expected_version) if exc.table_name == "events" else None

        part = (stream_id, expected_version, events)
        sql = _APPEND
        if not conn.is_in_transaction():  # the statement is its own transaction: refused, it aborts
            sql, args = _APPEND_OR_ABORT, [*args, len(events)]
        last = append_many.QueuedAppend(sql, tuple(args), check, refused, self, (part,))
        if not await db_batch.end_with(conn, last):
            return await self.append(stream_id, expected_version, events, conn)
        return expected_version + len(events)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Envelope],
        conn: asyncpg.Connection | None = None,
    ) -> int:
        """Append ``events`` to a stream at ``expected_version``; returns the new version.

        Versions must continue the stream: ``expected_version + 1, + 2, ...``. With ``conn``
        the append joins the caller's transaction (see :meth:`transaction`).
        """
        if not events:
            return expected_version
        args = self._arguments(stream_id, expected_version, events)
        try:
            if conn is None:
                row = await self._append_alone(args, events[0])
                if row is None:  # the connection broke, but the append did commit
                    self.notifier.poke()
                    return expected_version + len(events)
            else:
                row = await conn.fetchrow(_APPEND, *args)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(stream_id, expected_version) from None
        _check_appended(row, stream_id, expected_version, len(events))
        if conn is None:
            self.notifier.poke()
        return expected_version + len(events)

    async def _append_alone(self, args: list[object], first: Envelope) -> asyncpg.Record | None:
        """The append as one statement (it commits itself). A broken connection is resolved by
        looking the first event up: committed → None; not committed → retried once on a fresh
        connection, then :class:`DatabaseUnavailable`; no answer → :class:`OutcomeUnknown`."""
        for attempt in (1, 2):
            own = await self._acquire()
            try:
                row: asyncpg.Record | None = await own.fetchrow(_APPEND, *args)
                return row
            except Exception as exc:
                if not is_broken_connection(exc):
                    raise
                failure: Exception = exc
            finally:
                await self.pool.release(own)
            if not proves_nothing_ran(failure):
                committed = await self._was_committed(first.event_id)
                if committed is None:
                    raise OutcomeUnknown(f"connection lost during the append: {failure!r}") from failure
                if committed:
                    log.warning("append of %s committed although its connection broke", first.stream_id)
                    return None
            if attempt == 2:
                raise DatabaseUnavailable(f"append not committed: {failure!r}") from failure
            await self.pool.expire_connections()
        raise AssertionError("unreachable")

    async def _was_committed(self, event_id: UUID) -> bool | None:
        """Whether the event is stored; None when the database does not answer within 2 s."""
        try:
            await self.pool.expire_connections()
            async with asyncio.timeout(2.0), self.pool.acquire() as conn:
                found = await conn.fetchval(_STORED, event_id)
                return bool(found)
        except Exception:
            return None

    async def read_rows(self, query: str, *args: object) -> list[asyncpg.Record]:
        """A read on a pooled connection; reads change nothing, so a broken one is retried once
        (then :class:`~shared.dbfaults.DatabaseUnavailable`)."""
        for attempt in (1, 2):
            try:
                async with self.pool.acquire() as own:
                    rows: list[asyncpg.Record] = await own.fetch(query, *args)
                    return rows
            except Exception as exc:
                if not is_broken_connection(exc):
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable(f"read failed: {exc!r}") from exc
                await self.pool.expire_connections()
        raise AssertionError("unreachable")

    def _arguments(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> list[object]:
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(
                    f"event {env.type} has stream {env.stream_id} v{env.stream_version}, "
                    f"expected {stream_id} v{expected_version + offset}"
                )
        return [
            stream_id,
            expected_version,
            events_json(events, self.max_event_bytes),
            tracing.current_traceparent(),
            WRITER_LOCK_CLASS,
            self.lock_key,
        ]

    async def read_stream(self, stream_id: str, conn: asyncpg.Connection | None = None) -> list[Envelope]:
        """The stream's events in order, upcast to their current schema versions."""
        query = f"SELECT {ENVELOPE_JSON} AS json FROM events WHERE stream_id = $1 ORDER BY stream_version"
        rows = await (self.read_rows(query, stream_id) if conn is None else conn.fetch(query, stream_id))
        return [self.registry.upcast(Envelope.model_validate_json(r["json"]), stored=True) for r in rows]

    async def read_all_after(
        self, after: LogPosition = LOG_START, limit: int = 1000, conn: Conn = None, *, also: Prelude = None
    ) -> list[StoredEvent]:
        """Committed events after ``after`` in log order; never passes over a late commit.

        Continue from the last event's :attr:`StoredEvent.log_position`. ``also``: a write run in
        the same statement (:data:`Prelude`).
        """
        query, args = _with(also, _READ_ALL, (after.tx_id, after.position, limit, *self._horizon_args))
        if conn is None:
            async with self.pool.acquire() as own:
                rows = await own.fetch(query, *args)
        else:
            rows = await conn.fetch(query, *args)
        up = self.registry.current_json  # old versions leave the store upcast (issue 15)
        return [
            StoredEvent(
                r["position"],
                r["branch_id"],
                r["type"],
                up(r["type"], r["schema_version"], r["json"]),
                r["tx_id"],
                r["traceparent"],
            )
            for r in rows
        ]

    @property
    def _horizon_args(self) -> tuple[str | None, int, int]:
        return (self.writer_name, WRITER_LOCK_CLASS, self.lock_key)

    async def blockers(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """The in-flight transactions that hold publication back, oldest first: pid, datname,
        application_name, xact_start, state (for the relay's log line)."""
        return list(await conn.fetch(BLOCKERS, *self._horizon_args))

    async def has_events_after(self, after: LogPosition, conn: Conn = None, *, also: Prelude = None) -> bool:
        """Whether any committed event follows ``after``: readable now, or held back by an older
        transaction still in flight.

        A reader that got nothing from :meth:`read_all_after` asks this before it goes to sleep.
        It must not ask "is something held back?" instead: the horizon may move between the two
        statements, and an event that stopped being held back meanwhile would be left unread.
        """
        query, args = _with(also, _ANY_AFTER, (after.tx_id, after.position))
        if conn is None:
            async with self.pool.acquire() as own:
                return bool(await own.fetchval(query, *args))
        return bool(await conn.fetchval(query, *args))

    async def head_position(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
