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
safety timer for a lost notification; the NOTIFY comes through the process's one listening
connection when it has one (``listener``, :class:`shared.topic_wakeups.TopicWakeups`: PostgreSQL
signals every listening backend at every NOTIFY of the database), else through its own. After
an acknowledged batch that fed a quiet partition (with ``announce_every``: after every batch) it
announces its topic on the topic's own channel, which wakes idle consumers in the processes that
read it (:mod:`shared.topic_wakeups`).
An event committed while the relay is idle goes out at once; under a steady load a round (read,
produce request, checkpoint, each with a fixed cost far above an event's; the checkpoint goes
with the next round's read) starts at most every ``ROUND_SECONDS`` and takes what
came meanwhile (``round_seconds=0`` for a store whose appends come batched already: the HQ feed's).

The topic is a repairable copy of the store (:mod:`shared.relay_repair`): the relay records the
last record the broker acknowledged per partition, and at every (re)connect, every
``VERIFY_SECONDS`` and whenever a produce is acknowledged at an offset lower than before, it checks
that the broker still holds them; if not, it re-creates the topic if needed and republishes from
the store. When a batch fails part-way, the checkpoint moves to the acknowledged prefix (events are
acknowledged out of order across partitions, so that is the longest run known to be stored) and
the relay retries after an exponential back-off: an outage costs at most one batch of duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

import asyncpg

from shared.eventstore import EventStore, LogPosition, Prelude, StoredEvent
from shared.fetch_pacing import IDLE_AFTER_SECONDS
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_HELD_BACK,
    RELAY_BROKER_LOSSES,
    RELAY_ERRORS,
    RELAY_PUBLISHED,
)
from shared.relay_check import BrokerCheck, event_id_of
from shared.relay_repair import (
    RelayState,
    Repairer,
    checkpoint,
    load_state,
    prune_marks,
    record_verification,
    save,
)
from shared.topic_wakeups import TopicWakeups

log = logging.getLogger(__name__)

Publish = Callable[[str, Sequence[StoredEvent]], Awaitable[Sequence[object] | None]]
"""Publishes a batch to a topic; returns, per event in order, the broker's acknowledgement (an
object with ``partition`` and ``offset``) or the exception that failed it. ``None`` means "all
acknowledged, offsets unknown" (no broker checks are possible then)."""

SAFETY_WAKE_SECONDS = 1.0
#: how often the leader checks that the broker still holds what it acknowledged
VERIFY_SECONDS = 10.0
#: how often a mark (checkpoint + acked offsets) is kept for a repair to start from
MARK_SECONDS = 5.0
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0
#: how often a standby replica tries to take the lock that makes it the publisher
LEAD_POLL_SECONDS = 1.0
HELD_BACK_RETRY_SECONDS = 0.002
HELD_BACK_MAX_SECONDS = 0.05
#: a round (read, publish, checkpoint) that did not fill a batch is followed by the next one no
#: sooner than this after its read: at most ~50 rounds a second under a steady load, each with
#: what came meanwhile; an event committed while the relay is idle goes out at once
ROUND_SECONDS = 0.02
#: a batch to a partition without an acknowledged record for this long announces the topic
#: (:mod:`shared.topic_wakeups`): its consumers may be about to pause (they pause after
#: ``IDLE_AFTER_SECONDS`` without records); half of that leaves a busy consumer time to fetch
QUIET_SECONDS = IDLE_AFTER_SECONDS / 2
#: a hold shorter than this is ordinary (concurrent appends); longer ones are logged, with the blocker
HELD_BACK_COUNT_AFTER = 0.5
HELD_BACK_LOG_AFTER = 2.0
HELD_BACK_LOG_EVERY = 30.0


class BrokerUnavailable(Exception):
    """The broker did not answer a probe: nothing was sent, the relay backs off."""


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
        check: BrokerCheck | None = None,
        round_seconds: float = ROUND_SECONDS,
        announce_every: bool = False,
        listener: TopicWakeups | None = None,
    ) -> None:
        self._store = store
        self._connect = connect
        self._publish = publish
        self.topic = topic
        self.service = service
        self._batch_size = batch_size
        #: the pacing of rounds under a steady load (:data:`ROUND_SECONDS`); 0 for a store whose
        #: appends are already batched (one transaction per consumer batch, e.g. the HQ feed's):
        #: each commit then goes out at once, as there is nothing to gather behind it
        self.round_seconds = round_seconds
        #: announce every acknowledged batch, not only one that fed a quiet partition: the topic's
        #: consumers rest as soon as they caught up (``FetchPacing.announced``: HQ's input)
        self.announce_every = announce_every
        #: the process's listening connection, to be woken through by other replicas' NOTIFYs
        #: instead of LISTENing on the relay's own (one listening backend less per process)
        self._listener = listener
        self._wake = asyncio.Event()
        self._draining = False
        self._stopped = asyncio.Event()
        self.state = RelayState()
        self.is_leader = False
        #: since when (monotonic) an older in-flight transaction holds publication back
        self.held_back_since: float | None = None
        self._held_back_reported = self._held_back_counted = 0.0
        self._lock_key = zlib.crc32(f"relay:{topic}".encode())
        self._repairer = Repairer(check, topic=topic, service=service) if check is not None else None
        RELAY_BROKER_LOSSES.labels(service)  # at 0 from the start, so the first loss is an increase
        # the series set every round, looked up once (a labels() call is a locked dict lookup)
        self._published = RELAY_PUBLISHED.labels(service)
        self._backlog = OUTBOX_BACKLOG.labels(service)
        self._failures = 0  # consecutive failed rounds: the back-off grows with them
        self._next_verify = 0.0
        self._next_mark = 0.0
        self._next_prune = 0.0
        self._lost: str | None = None  # evidence that the broker lost records: repair at once
        #: ``state`` holds acknowledged progress the checkpoint does not have yet (written with
        #: the next statement the relay sends anyway, :meth:`_unsaved_checkpoint`)
        self._unsaved = False
        self._unannounced = False  # and the announcement that goes with it is still to be made
        #: when each partition last had a record acknowledged (monotonic), in this session
        self._fed_at: dict[int, float] = {}
        self._probe: asyncio.Task[tuple[bool, int]] | None = None  # a read-back in flight

    @property
    def position(self) -> LogPosition:
        """Everything up to here (in log order) was acknowledged by the broker."""
        return self.state.position

    async def run(self) -> None:
        """Relay until :meth:`stop`; reconnects and retries on any database or broker failure."""
        while not self._stopped.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                # a checkpoint lost in a database crash only means republishing (duplicates are
                # allowed, losses are not): no fsync wait per published batch
                await conn.execute("SET synchronous_commit TO off")
                if not await self._lead(conn):
                    return
                if self._listener is not None:
                    self._listener.listen(self._store.notifier.channel, self.poke)
                else:
                    await conn.add_listener(self._store.notifier.channel, self._on_notify)
                self._store.notifier.attach_local(self.poke)
                self.state, partitions = await load_state(conn, self.topic)
                self._unsaved = False
                self._fed_at = {}  # announce the first batches: consumers may be idle
                if self._repairer is not None and self._repairer.check.partitions is None:
                    self._repairer.check.partitions = partitions
                self._next_verify = 0.0  # verify the broker at every (re)connect
                await self._relay(conn)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                RELAY_ERRORS.labels(self.service).inc()
                log.warning("relay %s: database unavailable (%s); retrying", self.topic, exc)
            except Exception as exc:  # broker errors of every kind: keep the events, try again
                RELAY_ERRORS.labels(self.service).inc()
                log.warning("relay %s: publish failed (%r); retrying from %s", self.topic, exc, self.position)
            finally:
                led = self.is_leader
                self.is_leader = False
                self._cancel_probe()
                self._store.notifier.detach_local(self.poke)
                if self._listener is not None:
                    self._listener.unlisten(self._store.notifier.channel, self.poke)
                if conn is not None:
                    await _close(conn)
            self._failures += 1
            backoff = min(BACKOFF_FIRST_SECONDS * 2 ** (self._failures - 1), BACKOFF_MAX_SECONDS)
            # a leader that lost its session gives a standby (trying every LEAD_POLL_SECONDS) the
            # first go at the lock: else it won the race back within 0.1 s and the healthy standby
            # never took over (one leader either way, but failover should go to the other replica)
            await asyncio.sleep(max(backoff, 1.5 * LEAD_POLL_SECONDS) if led else backoff)

    async def _lead(self, conn: asyncpg.Connection) -> bool:
        """Wait for the advisory lock that makes this replica the topic's only publisher."""
        while not self._stopped.is_set() and not self._draining:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                self.is_leader = True
                log.info("relay %s: publishing as leader", self.topic)
                return True
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout=LEAD_POLL_SECONDS)
            except TimeoutError:
                pass
        return False

    async def _relay(self, conn: asyncpg.Connection) -> None:
        held_back_delay = HELD_BACK_RETRY_SECONDS
        loop = asyncio.get_running_loop()
        busy = False  # this round follows a published one without an idle wait between them
        while not self._stopped.is_set():
            self._wake.clear()
            await self._check_broker(conn)
            started = loop.time()
            batch = await self._store.read_all_after(
                self.position, self._batch_size, conn, also=self._unsaved_checkpoint()
            )
            if batch:
                if self._failures and self._repairer is not None and not await self._repairer.check.answers():
                    raise BrokerUnavailable("the broker does not answer yet")  # retried after back-off
                await self._publish_batch(conn, batch, defer=busy)
                self._not_held_back()
                held_back_delay = HELD_BACK_RETRY_SECONDS
                busy = True
                if len(batch) == self._batch_size:
                    continue  # a backlog: on at once
                # events are trickling in: let more arrive, so that under load there are fewer,
                # fuller rounds (each costs a read, a produce request and a checkpoint write)
                if self.round_seconds > 0:
                    await asyncio.sleep(started + self.round_seconds - loop.time())
                if self._wake.is_set() or await self._store.has_events_after(
                    self.position, conn, also=self._unsaved_checkpoint()
                ):
                    continue
                # nothing was appended since the read: skip the read that would come back empty
            elif await self._store.has_events_after(self.position, conn):
                # committed but held back by an older transaction still in flight that can append
                # here (shared.horizon), or readable since the read above: look again shortly, a
                # NOTIFY may not come for it; back off a little while a long transaction holds it
                await self._held_back(conn)
                await asyncio.sleep(held_back_delay)
                held_back_delay = min(held_back_delay * 1.5, HELD_BACK_MAX_SECONDS)
                continue
            busy = False
            held_back_delay = HELD_BACK_RETRY_SECONDS
            self._not_held_back()
            self._backlog.set(0)
            if self._draining:
                return
            with suppress(TimeoutError):
                async with asyncio.timeout(SAFETY_WAKE_SECONDS):  # no task per wait, as wait_for makes
                    await self._wake.wait()

    def _unsaved_checkpoint(self) -> Prelude:
        """The checkpoint write, when ``state`` is ahead of it, to go with the next statement."""
        if not self._unsaved:
            return None
        self._unsaved = False  # if that statement fails, the connection goes: state is loaded again
        return checkpoint(self.topic, self.state, announce=self._unannounced)

    async def _publish_batch(
        self, conn: asyncpg.Connection, batch: Sequence[StoredEvent], *, defer: bool = False
    ) -> None:
        """Publish; keep the acknowledged prefix; raise the first failure (the caller backs off).

        The checkpoint is written after the broker acknowledged: at once for the first batch
        after an idle wait or one to announce while rounds are paced, else (``defer``: a round of
        a steady load) with the relay's next statement, its next read ≤ one round later: one round
        trip less per round; a crash in between costs one more round of duplicates, never a loss.
        A mark and a failed batch's prefix are written at once. The topic is announced with it
        only when the batch fed a partition quiet for :data:`QUIET_SECONDS` (its consumers may
        have paused): under a steady load not every round makes a NOTIFY for every listening
        process to take; with ``announce_every`` (a broker that holds fetches) every batch is."""
        try:
            results = await self._publish(self.topic, batch)
        except Exception:
            await self._report_backlog(conn)
            raise
        acked = len(batch) if results is None else _prefix(results)
        if acked:
            tail = dict(self.state.acked)
            last: dict[int, int] = {}  # partition → index of its last acknowledged event
            regressed = False
            for i, ack in enumerate((results or ())[:acked]):
                partition, offset = int(ack.partition), int(ack.offset)  # type: ignore[attr-defined]
                previous = tail.get(partition)
                if previous is not None and offset <= previous[0]:
                    regressed = True  # the log restarted below what it acknowledged before
                tail[partition] = (offset, "")
                last[partition] = i
            if regressed:
                # keep the old record (a crash now still finds the loss at the next start) and
                # repair before anything else; these events go out again from the repair point
                self._lost = "a produce was acknowledged below an offset acknowledged before"
                return
            now = time.monotonic()
            fed, quiet = self._fed_at, self.announce_every
            for partition, i in last.items():
                tail[partition] = (tail[partition][0], event_id_of(batch[i].json) or "")
                quiet = (
                    quiet or self.announce_every or now - fed.get(partition, -QUIET_SECONDS) >= QUIET_SECONDS
                )
                fed[partition] = now
            self.state = RelayState(batch[acked - 1].log_position, tail)
            self._published.inc(acked)
            mark = now >= self._next_mark
            if mark:
                self._next_mark = now + MARK_SECONDS
                if now >= self._next_prune:
                    self._next_prune = now + 3600.0
                    await prune_marks(conn, self.topic)
            # an announcement is awaited by resting consumers: it waits for no paced round's sleep
            paced = quiet and self.round_seconds > 0
            self._unsaved = defer and not mark and not paced and acked == len(batch)
            self._unannounced = quiet
            if not self._unsaved:
                await save(conn, self.topic, self.state, mark=mark, announce=quiet)
        if acked < len(batch):
            await self._report_backlog(conn)
            failure = results[acked] if results is not None else None
            log.warning(
                "relay %s: %d of %d events acknowledged before a failure; the rest is retried",
                self.topic,
                acked,
                len(batch),
            )
            if isinstance(failure, BaseException) and _is_unknown_topic(failure):
                self._next_verify = 0.0  # the topic may be gone: check before the retry
            raise failure if isinstance(failure, BaseException) else RuntimeError("publish failed")
        self._failures = 0

    async def _check_broker(self, conn: asyncpg.Connection) -> None:
        """Verify the broker (at (re)connect, periodically, on evidence of loss) and take operator
        requests. The read-back runs in a task of its own, so publishing never waits for it."""
        if self._repairer is None:
            return
        restart: RelayState | None = None
        if self._lost is not None:
            restart = await self._repairer.repair(conn, self.state, self._lost)  # raises: kept for later
            self._lost = None
        elif self._probe is not None and self._probe.done():
            probe, self._probe = self._probe, None
            try:
                held, partitions = probe.result()
            except Exception as exc:  # the broker does not answer: no evidence of a loss, ask later
                log.warning("relay %s: could not verify the broker (%r)", self.topic, exc)
                await record_verification(conn, self.topic, f"could not verify: {exc!r}")
                self._next_verify = min(self._next_verify, time.monotonic() + 2.0)
                return
            if held:
                await record_verification(conn, self.topic, "ok", partitions)
            else:
                reason = "the broker no longer holds acknowledged records"
                restart = await self._repairer.repair(conn, self.state, reason)
        now = time.monotonic()
        if restart is None and self._probe is None and now >= self._next_verify:
            self._next_verify = now + VERIFY_SECONDS
            self._probe = asyncio.create_task(self._repairer.probe(dict(self.state.acked)))
            restart = await self._repairer.take_request(conn, self.state)
        if restart is not None:
            self.state = restart
            self._unsaved = False  # the repair or request wrote the checkpoint
            self._fed_at = {}
            self._next_mark = 0.0
            self._cancel_probe()  # it checked offsets of the log before the repair

    def _cancel_probe(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

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
        self._backlog.set(int(waiting))

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
        if self._repairer is not None:
            await self._repairer.check.close()


def _prefix(results: Sequence[object]) -> int:
    """How many results, from the first, are acknowledgements."""
    for i, result in enumerate(results):
        if isinstance(result, BaseException):
            return i
    return len(results)


def _is_unknown_topic(exc: BaseException) -> bool:
    from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

    return isinstance(exc, UnknownTopicOrPartitionError | KafkaTimeoutError)


async def _close(conn: asyncpg.Connection) -> None:
    """Close, or drop a connection that is already broken (the server may have killed it)."""
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        conn.terminate()
