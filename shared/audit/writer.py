"""Late audit rows: the rows no transaction wrote, written before the response when PostgreSQL
answers in time, else from a bounded in-memory queue as soon as it answers again."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter, Gauge

from shared.audit.entry import AuditEntry
from shared.audit.store import INSERT, record_many, row_values

log = logging.getLogger(__name__)

#: how long a request waits for its late row to be written before the row is queued instead
WRITE_TIMEOUT_SECONDS = 1.0
#: rows held in memory while PostgreSQL does not answer; more are dropped (and counted)
MAX_QUEUED = 10_000
FLUSH_BATCH = 500
FLUSH_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

AUDIT_WRITES = Counter(
    "branchcare_audit_writes_total",
    "Command audit rows by outcome: in_transaction (with the command), written (before the "
    "response), queued (database unreachable), late (written from the queue), dropped (queue full)",
    ["service", "outcome"],
)
AUDIT_QUEUED = Gauge(
    "branchcare_audit_queued_rows",
    "Audit rows held in memory until PostgreSQL answers again",
    ["service"],
)


class AuditWriter:
    """Writes the rows no transaction wrote: now if PostgreSQL answers within
    :data:`WRITE_TIMEOUT_SECONDS`, else later, from a bounded in-memory queue, in order."""

    def __init__(
        self,
        service: str,
        *,
        max_queued: int = MAX_QUEUED,
        timeout: float = WRITE_TIMEOUT_SECONDS,
        backoff: Sequence[float] = FLUSH_BACKOFF_SECONDS,
    ) -> None:
        self.service = service
        self.max_queued = max_queued
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self.queue: deque[AuditEntry] = deque()
        self.pool: asyncpg.Pool | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._queued_since: float | None = None

    async def submit(self, pool: asyncpg.Pool, entry: AuditEntry) -> None:
        self.pool = pool
        if not self.queue:
            try:
                await self._write(pool, [entry])
            except Exception as exc:  # unreachable, restarting, timed out: keep it for later
                self._enqueue(entry, exc)
                return
            AUDIT_WRITES.labels(self.service, "written").inc()
            return
        self._enqueue(entry, None)

    def _enqueue(self, entry: AuditEntry, error: BaseException | None) -> None:
        if len(self.queue) >= self.max_queued:
            AUDIT_WRITES.labels(self.service, "dropped").inc()
            log.error(
                "audit row for %s %s %s (correlation %s) dropped: %d rows already wait for PostgreSQL",
                entry.method,
                entry.route,
                entry.status,
                entry.correlation_id,
                len(self.queue),
            )
            return
        if not self.queue:
            self._queued_since = time.monotonic()
            log.warning(
                "audit rows are held in memory until PostgreSQL answers (%s; at most %d)",
                type(error).__name__ if error else "queue not empty",
                self.max_queued,
            )
        self.queue.append(entry)
        AUDIT_WRITES.labels(self.service, "queued").inc()
        AUDIT_QUEUED.labels(self.service).set(len(self.queue))
        if self._flusher is None or self._flusher.done():
            # a task of its own context: not the request's (its pending row is not ours)
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), name=f"{self.service}-audit-flush", context=contextvars.Context()
            )

    async def _write(self, pool: asyncpg.Pool, entries: Sequence[AuditEntry]) -> None:
        """One round trip (a batch in one transaction), bounded by the timeout as a whole."""
        async with asyncio.timeout(self.timeout * max(1, len(entries) // 50)):
            async with pool.acquire() as conn:
                if len(entries) == 1:
                    await conn.execute(INSERT, *row_values(entries[0]))
                else:
                    async with conn.transaction():
                        await record_many(conn, entries)

    async def flush(self) -> int:
        """Write the queued rows, oldest first, in batches; returns how many were written.
        Raises (and keeps the rest) when PostgreSQL still does not answer."""
        written = 0
        while self.queue and self.pool is not None:
            batch = [self.queue[i] for i in range(min(FLUSH_BATCH, len(self.queue)))]
            await self._write(self.pool, batch)
            for _ in batch:
                self.queue.popleft()
            written += len(batch)
            AUDIT_WRITES.labels(self.service, "late").inc(len(batch))
            AUDIT_QUEUED.labels(self.service).set(len(self.queue))
        if written and not self.queue and self._queued_since is not None:
            log.warning(
                "%d audit rows written late, %.1f s after PostgreSQL stopped answering",
                written,
                time.monotonic() - self._queued_since,
            )
            self._queued_since = None
        return written

    async def _flush_loop(self) -> None:
        attempt = 0
        while self.queue:
            await asyncio.sleep(self.backoff[min(attempt, len(self.backoff) - 1)])
            try:
                await self.flush()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.info("audit: %d rows still wait for PostgreSQL (%s)", len(self.queue), type(exc).__name__)

    async def drain(self, timeout: float) -> None:
        """At shutdown: a last attempt to write what is queued, bounded by ``timeout``."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if not self.queue:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except Exception as exc:
            log.error("audit: %d rows lost at shutdown, PostgreSQL did not answer (%r)", len(self.queue), exc)
