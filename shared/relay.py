"""The outbox relay: publishes a service's stored events to its Kafka topic, in store order.

The events table is the outbox: each event row is written by the command's own transaction, so
an event exists if and only if its command committed. The relay reads rows after its checkpoint
in log order (late commits are never passed over, see :mod:`shared.eventstore`), publishes them
keyed by ``branch_id`` with acks=all, and moves the checkpoint only after Kafka acknowledged the
whole batch. A crash or a broker outage therefore republishes at most the unacknowledged tail:
duplicates on the wire are possible, losses are not; consumers drop duplicates by stream version.

Exactly one relay per topic publishes at a time: it holds a PostgreSQL advisory lock on its own
connection (released by the server if the process dies) and reads through that same connection,
so a relay whose connection (and with it the lock) is gone notices before it publishes again.
It wakes on NOTIFY (or, for appends made in its own process, on a direct poke), with a slow
safety timer for a lost notification.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from shared.eventstore import LOG_START, EventStore, LogPosition, StoredEvent
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_HELD_BACK, RELAY_ERRORS, RELAY_PUBLISHED

log = logging.getLogger(__name__)

Publish = Callable[[str, Sequence[StoredEvent]], Awaitable[None]]
"""Publishes a batch to a topic and returns once the broker acknowledged every message."""

SAFETY_WAKE_SECONDS = 1.0
HELD_BACK_RETRY_SECONDS = 0.002
HELD_BACK_MAX_SECONDS = 0.05
LINGER_SECONDS = 0.005
#: a hold shorter than this is ordinary (concurrent appends); longer ones are logged, with the blocker
HELD_BACK_COUNT_AFTER = 0.5
HELD_BACK_LOG_AFTER = 2.0
HELD_BACK_LOG_EVERY = 30.0


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        publish: Publish,
        *,
        topic: str,
        service: str,
        batch_size: int = 1000,
    ) -> None:
        self._store = store
        self._connect = connect
        self._publish = publish
        self.topic = topic
        self.service = service
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._draining = False
        self._stopped = asyncio.Event()
        self.position: LogPosition = LOG_START
        self.is_leader = False
        #: since when (monotonic) an older in-flight transaction holds publication back
        self.held_back_since: float | None = None
        self._held_back_reported = self._held_back_counted = 0.0
        self._lock_key = zlib.crc32(f"relay:{topic}".encode())

    async def run(self) -> None:
        """Relay until :meth:`stop`; reconnects and retries on any database or broker failure."""
        backoff = 0.1
        while not self._stopped.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                # a checkpoint lost in a database crash only means republishing (duplicates are
                # allowed, losses are not): no fsync wait per published batch
                await conn.execute("SET synchronous_commit TO off")
                if not await self._lead(conn):
                    return
                await conn.add_listener(self._store.notifier.channel, self._on_notify)
                self._store.notifier.attach_local(self.poke)
                self.position = await self._load_checkpoint(conn)
                await self._relay(conn)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                RELAY_ERRORS.labels(self.service).inc()
                log.warning("relay %s: database unavailable (%s); retrying", self.topic, exc)
            except Exception as exc:  # broker errors of every kind: keep the events, try again
                RELAY_ERRORS.labels(self.service).inc()
                log.warning("relay %s: publish failed (%r); retrying from %s", self.topic, exc, self.position)
            finally:
                self.is_leader = False
                self._store.notifier.detach_local(self.poke)
                if conn is not None:
                    await _close(conn)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _lead(self, conn: asyncpg.Connection) -> bool:
        """Wait for the advisory lock that makes this replica the topic's only publisher."""
        while not self._stopped.is_set() and not self._draining:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                self.is_leader = True
                log.info("relay %s: publishing as leader", self.topic)
                return True
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=1.0)
            except TimeoutError:
                pass
        return False

    async def _relay(self, conn: asyncpg.Connection) -> None:
        held_back_delay = HELD_BACK_RETRY_SECONDS
        while not self._stopped.is_set():
            self._wake.clear()
            batch = await self._store.read_all_after(self.position, self._batch_size, conn)
            if batch:
                try:
                    await self._publish(self.topic, batch)
                except Exception:
                    await self._report_backlog(conn)
                    raise
                self.position = batch[-1].log_position
                await conn.execute(
                    """INSERT INTO relay_checkpoint (topic, tx_id, position) VALUES ($1, $2, $3)
                       ON CONFLICT (topic) DO UPDATE SET tx_id = $2, position = $3, updated_at = now()""",
                    self.topic,
                    self.position.tx_id,
                    self.position.position,
                )
                RELAY_PUBLISHED.labels(self.service).inc(len(batch))
                self._not_held_back()
                held_back_delay = HELD_BACK_RETRY_SECONDS
                if len(batch) < self._batch_size:
                    # events are trickling in: let a few more arrive, so that under load there are
                    # fewer, fuller rounds (each costs a read, a produce and a checkpoint write)
                    await asyncio.sleep(LINGER_SECONDS)
                continue
            if await self._store.has_events_after(self.position, conn):
                # committed but held back by an older transaction still in flight that can append
                # here (shared.horizon), or readable since the read above: look again shortly, a
                # NOTIFY may not come for it; back off a little while a long transaction holds it
                await self._held_back(conn)
                await asyncio.sleep(held_back_delay)
                held_back_delay = min(held_back_delay * 1.5, HELD_BACK_MAX_SECONDS)
                continue
            held_back_delay = HELD_BACK_RETRY_SECONDS
            self._not_held_back()
            OUTBOX_BACKLOG.labels(self.service).set(0)
            if self._draining:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=SAFETY_WAKE_SECONDS)
            except TimeoutError:
                pass

    async def _load_checkpoint(self, conn: asyncpg.Connection) -> LogPosition:
        row = await conn.fetchrow("SELECT tx_id, position FROM relay_checkpoint WHERE topic = $1", self.topic)
        return LOG_START if row is None else LogPosition(int(row["tx_id"]), int(row["position"]))

    async def _report_backlog(self, conn: asyncpg.Connection) -> None:
        """While the broker is down the gauge must show the events piling up in the outbox."""
        try:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint)",
                self.position.tx_id,
                self.position.position,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return
        OUTBOX_BACKLOG.labels(self.service).set(int(waiting))

    async def _held_back(self, conn: asyncpg.Connection) -> None:
        """While held back: the gauges (seconds, backlog) rise; after a while the log names the
        blocking backend, again every :data:`HELD_BACK_LOG_EVERY` seconds."""
        now = time.monotonic()
        if self.held_back_since is None:
            self.held_back_since = now
        held = now - self.held_back_since
        OUTBOX_HELD_BACK.labels(self.service).set(held)
        if held >= HELD_BACK_COUNT_AFTER and now - self._held_back_counted >= 1.0:
            self._held_back_counted = now
            await self._report_backlog(conn)  # the events waiting meanwhile, once a second
        if held < HELD_BACK_LOG_AFTER or now - self._held_back_reported < HELD_BACK_LOG_EVERY:
            return
        self._held_back_reported = now
        blockers = ", ".join(
            f"pid {b['pid']} database {b['datname']} application {b['application_name']!r} "
            f"transaction started {b['xact_start']} ({b['state']})"
            for b in await self._store.blockers(conn)
        )
        blockers = blockers or "a transaction that has ended since"
        log.warning("relay %s: held back for %.0f s by %s", self.topic, held, blockers)

    def _not_held_back(self) -> None:
        if self.held_back_since is not None:
            self.held_back_since = None
            self._held_back_reported = self._held_back_counted = 0.0
            OUTBOX_HELD_BACK.labels(self.service).set(0)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    async def stop(self, task: asyncio.Task[None], timeout: float = 10.0) -> None:
        """Publish what is stored so far (if leader), then stop; give up after ``timeout``."""
        self._draining = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
        except TimeoutError:
            log.warning(
                "relay %s: not drained within %.0fs; the rest goes out on restart", self.topic, timeout
            )
        self._stopped.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _close(conn: asyncpg.Connection) -> None:
    """Close, or drop a connection that is already broken (the server may have killed it)."""
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        conn.terminate()
