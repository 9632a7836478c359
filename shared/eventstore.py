"""The PostgreSQL event store: append with optimistic concurrency, read a stream, read all.

``append`` is one SQL statement (atomic on its own, or part of the caller's transaction): it
inserts the events only if the stream is still at ``expected_version``; a concurrent writer that
got there first makes it fail with :class:`ConcurrencyError` (unique ``(stream_id, version)``).

Reading "all events after position P" is safe against late commits: a ``bigserial`` taken by a
slow transaction can become visible after larger ones. Each row stores its writing transaction id
and readers only take rows of transactions older than every transaction still in flight
(``pg_snapshot_xmin``), so nothing can later appear below what they have read. Appends stay
concurrent (no table lock), so group commit lifts throughput above one fsync per append.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

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


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    branch_id: str
    type: str
    json: str  # the whole envelope, as it goes on the wire


_APPEND = """
WITH cur AS (
    SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1
), ins AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, branch_id,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, data)
    SELECT e.event_id, $1, e.stream_version, e.type, e.schema_version, e.branch_id, e.occurred_at,
           e.recorded_at, e.correlation_id, e.causation_id, e.actor, e.data::jsonb
    FROM unnest($3::uuid[], $4::int[], $5::text[], $6::int[], $7::text[], $8::timestamptz[],
                $9::timestamptz[], $10::uuid[], $11::uuid[], $12::text[], $13::text[])
         AS e(event_id, stream_version, type, schema_version, branch_id, occurred_at, recorded_at,
              correlation_id, causation_id, actor, data),
         cur
    WHERE cur.v = $2
    RETURNING position
)
SELECT (SELECT v FROM cur) AS current, (SELECT count(*) FROM ins) AS inserted
"""

_ENVELOPE_JSON = """json_build_object(
    'event_id', event_id, 'type', type, 'schema_version', schema_version,
    'stream_id', stream_id, 'stream_version', stream_version, 'branch_id', branch_id,
    'occurred_at', occurred_at, 'recorded_at', recorded_at, 'correlation_id', correlation_id,
    'causation_id', causation_id, 'actor', actor, 'data', data)::text"""

_READ_ALL = f"""
SELECT position, branch_id, type, {_ENVELOPE_JSON} AS json
FROM events
WHERE position > $1 AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY position
LIMIT $2
"""

_HELD_BACK = """
SELECT EXISTS (SELECT 1 FROM events
               WHERE position > $1 AND tx_id >= pg_snapshot_xmin(pg_current_snapshot()))
"""


class CommitNotifier:
    """Wakes listeners (the outbox relay) after events commit, with at most one NOTIFY in flight.

    A NOTIFY inside every append would serialise all commits on PostgreSQL's notify-queue lock;
    instead a NOTIFY is sent after the commit, from its own tiny transaction with
    ``synchronous_commit`` off, and pokes that arrive meanwhile are folded into the next one.
    """

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self.channel = channel
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
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
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.max_event_bytes = max_event_bytes
        self.notifier = CommitNotifier(pool, channel)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One transaction for an append plus other writes (deadlines, counters) of a command."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
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
        return [stream_id, expected_version, *columns]

    async def read_stream(self, stream_id: str, conn: asyncpg.Connection | None = None) -> list[Envelope]:
        """The stream's events in order, upcast to their current schema versions."""
        query = f"SELECT {_ENVELOPE_JSON} AS json FROM events WHERE stream_id = $1 ORDER BY stream_version"
        if conn is None:
            async with self.pool.acquire() as own:
                rows = await own.fetch(query, stream_id)
        else:
            rows = await conn.fetch(query, stream_id)
        return [self.registry.upcast(Envelope.model_validate_json(r["json"])) for r in rows]

    async def read_all_after(self, position: int, limit: int = 1000) -> list[StoredEvent]:
        """Events after global ``position`` in store order; never passes over a late commit."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_READ_ALL, position, limit)
        return [StoredEvent(r["position"], r["branch_id"], r["type"], r["json"]) for r in rows]

    async def held_back_after(self, position: int) -> bool:
        """Whether committed events after ``position`` wait for an older transaction to finish."""
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval(_HELD_BACK, position))

    async def head_position(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
