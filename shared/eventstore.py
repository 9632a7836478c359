"""The PostgreSQL event store: append with optimistic concurrency, read a stream, read all.

``append`` is one SQL statement (atomic on its own, or part of the caller's transaction): it
inserts the events only if the stream is still at ``expected_version``; a concurrent writer that
got there first makes it fail with :class:`ConcurrencyError` (unique ``(stream_id, version)``).

Reading "all events after P" is safe against late commits: a ``bigserial`` taken by a slow
transaction can become visible after larger ones. Each row stores its writing transaction id and
the global log is ordered by ``(tx_id, position)``, not by ``position`` alone: readers only take
rows of transactions older than every transaction still in flight (``pg_snapshot_xmin``), and
anything that commits later has a transaction id at least that large, so it sorts after whatever
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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple

import asyncpg

from shared import tracing
from shared.envelope import Envelope
from shared.registry import REGISTRY, EventRegistry

log = logging.getLogger(__name__)


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


class EventTooLarge(ValueError):
    pass


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
    SELECT coalesce((SELECT stream_version FROM last), 0) AS v,
           coalesce((SELECT tx_id FROM last) <= pg_current_xact_id(), true) AS in_log_order
), ins AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, branch_id,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, data, traceparent)
    SELECT e.event_id, $1, e.stream_version, e.type, e.schema_version, e.branch_id, e.occurred_at,
           e.recorded_at, e.correlation_id, e.causation_id, e.actor, e.data::jsonb, $14::text
    FROM unnest($3::uuid[], $4::int[], $5::text[], $6::int[], $7::text[], $8::timestamptz[],
                $9::timestamptz[], $10::uuid[], $11::uuid[], $12::text[], $13::text[])
         AS e(event_id, stream_version, type, schema_version, branch_id, occurred_at, recorded_at,
              correlation_id, causation_id, actor, data),
         cur
    WHERE cur.v = $2 AND cur.in_log_order
    RETURNING position
)
SELECT (SELECT v FROM cur) AS current, (SELECT in_log_order FROM cur) AS in_log_order,
       (SELECT count(*) FROM ins) AS inserted
"""

_ENVELOPE_JSON = """json_build_object(
    'event_id', event_id, 'type', type, 'schema_version', schema_version,
    'stream_id', stream_id, 'stream_version', stream_version, 'branch_id', branch_id,
    'occurred_at', occurred_at, 'recorded_at', recorded_at, 'correlation_id', correlation_id,
    'causation_id', causation_id, 'actor', actor, 'data', data)::text"""

_READ_ALL = f"""
SELECT tx_id, position, branch_id, type, schema_version, traceparent, {_ENVELOPE_JSON} AS json
FROM events
WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, position
LIMIT $3
"""

_ANY_AFTER = """
SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint))
"""


class CommitNotifier:
    """Wakes listeners (the outbox relay) after events commit, with at most one NOTIFY in flight.

    A NOTIFY inside every append would serialise all commits on PostgreSQL's notify-queue lock;
    instead a NOTIFY is sent after the commit, from its own tiny transaction with
    ``synchronous_commit`` off, and pokes that arrive meanwhile are folded into the next one.

    When the leading relay runs in this very process it attaches itself (:meth:`attach_local`)
    and is poked directly: no NOTIFY transaction per burst of appends, which under load is a
    second stream of commits competing with the appends. Other replicas still NOTIFY it.
    """

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self.channel = channel
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._local: Callable[[], None] | None = None

    def attach_local(self, wake: Callable[[], None]) -> None:
        """Poke ``wake`` directly instead of sending NOTIFY (the leading relay of this process)."""
        self._local = wake

    def detach_local(self, wake: Callable[[], None]) -> None:
        if self._local == wake:
            self._local = None

    def poke(self) -> None:
        if self._local is not None:
            self._local()
            return
        self._pending.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._pending.is_set():
            self._pending.clear()
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(
                        f"BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY {self.channel}; COMMIT;"
                    )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the relay also wakes on its safety timer; a lost wake-up only delays it
                log.warning("could not send NOTIFY %s: %s", self.channel, exc)
                return

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class EventStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        channel: str,
        registry: EventRegistry = REGISTRY,
        max_event_bytes: int = 64 * 1024,
        before_commit: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.max_event_bytes = max_event_bytes
        self.notifier = CommitNotifier(pool, channel)
        #: last writes of every :meth:`transaction` that succeeded, just before it commits (the
        #: request's audit row: ``shared.audit.write_in_transaction``)
        self.before_commit = before_commit

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction for an append plus other writes (deadlines, counters) of a command."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
            if self.before_commit is not None:
                await self.before_commit(conn)
        self.notifier.poke()

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
                async with self.pool.acquire() as own:
                    row = await own.fetchrow(_APPEND, *args)
            else:
                row = await conn.fetchrow(_APPEND, *args)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(stream_id, expected_version) from None
        assert row is not None
        if row["inserted"] != len(events):
            if not row["in_log_order"] and row["current"] == expected_version:
                log.info("stream %s was last written by a younger transaction; retry afresh", stream_id)
            raise ConcurrencyError(stream_id, expected_version, row["current"])
        if conn is None:
            self.notifier.poke()
        return expected_version + len(events)

    def _arguments(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> list[object]:
        columns: list[list[object]] = [[] for _ in range(11)]
        for offset, env in enumerate(events, start=1):
            if env.stream_id != stream_id or env.stream_version != expected_version + offset:
                raise ValueError(
                    f"event {env.type} has stream {env.stream_id} v{env.stream_version}, "
                    f"expected {stream_id} v{expected_version + offset}"
                )
            data = json.dumps(env.data, separators=(",", ":"), ensure_ascii=False)
            if len(data.encode()) > self.max_event_bytes:
                raise EventTooLarge(
                    f"event {env.type} is {len(data)} bytes, the limit is {self.max_event_bytes}"
                )
            values = (
                env.event_id,
                env.stream_version,
                env.type,
                env.schema_version,
                env.branch_id,
                env.occurred_at,
                env.recorded_at,
                env.correlation_id,
                env.causation_id,
                env.actor,
                data,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        return [stream_id, expected_version, *columns, tracing.current_traceparent()]

    async def read_stream(self, stream_id: str, conn: asyncpg.Connection | None = None) -> list[Envelope]:
        """The stream's events in order, upcast to their current schema versions."""
        query = f"SELECT {_ENVELOPE_JSON} AS json FROM events WHERE stream_id = $1 ORDER BY stream_version"
        if conn is None:
            async with self.pool.acquire() as own:
                rows = await own.fetch(query, stream_id)
        else:
            rows = await conn.fetch(query, stream_id)
        return [self.registry.upcast(Envelope.model_validate_json(r["json"]), stored=True) for r in rows]

    async def read_all_after(
        self, after: LogPosition = LOG_START, limit: int = 1000, conn: asyncpg.Connection | None = None
    ) -> list[StoredEvent]:
        """Committed events after ``after`` in log order; never passes over a late commit.

        Continue from the last event's :attr:`StoredEvent.log_position`.
        """
        if conn is None:
            async with self.pool.acquire() as own:
                rows = await own.fetch(_READ_ALL, after.tx_id, after.position, limit)
        else:
            rows = await conn.fetch(_READ_ALL, after.tx_id, after.position, limit)
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

    async def has_events_after(self, after: LogPosition, conn: asyncpg.Connection | None = None) -> bool:
        """Whether any committed event follows ``after``: readable now, or held back by an older
        transaction still in flight.

        A reader that got nothing from :meth:`read_all_after` asks this before it goes to sleep.
        It must not ask "is something held back?" instead: the horizon may move between the two
        statements, and an event that stopped being held back meanwhile would be left unread.
        """
        if conn is None:
            async with self.pool.acquire() as own:
                return bool(await own.fetchval(_ANY_AFTER, after.tx_id, after.position))
        return bool(await conn.fetchval(_ANY_AFTER, after.tx_id, after.position))

    async def head_position(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
