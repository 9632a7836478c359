"""Idempotent projections fed from Kafka: read-model change and progress in one transaction.

A projection is a name, the topics it reads and ``apply(conn, events)``. The runner subscribes to
the topics through FastStream as a batch consumer with an explicit (manual) ack policy and:

1. decodes every record; an invalid envelope, an unknown or forged ``type``, bad data or an
   oversized message is dead-lettered to ``<topic>.dlq`` with the reason in its headers (the data
   only of the types the projection handles, when it says which: ``EventHandlers.handles``);
2. applies the valid events in ONE transaction together with the per-stream progress record
   (``projection_positions``): an event applies only if it is the next version of its stream, so
   a redelivered or republished event changes nothing; an event that is dead-lettered instead is
   published to the DLQ *before* that transaction commits its progress record, so a crash in
   between can duplicate a dead letter but never turn it into a silently skipped "duplicate";
3. if that transaction fails for a reason other than the database being unreachable, retries the
   events one by one; an event that fails ``max_attempts`` times is dead-lettered and marked
   consumed, and the rest go on;
4. only then commits the batch's Kafka offsets — never past a gap: a stream version that
   arrives before its predecessor holds its partition back (:mod:`shared.projection_gaps`) until
   the missing event has come by (the relay republishes what a broker lost) and been applied.
   Under a steady flow at most once a second (:mod:`shared.offset_commits`): re-reads are no-ops.

The handler never raises and commits explicit per-partition offsets: FastStream's ``ack()``
commits every offset consumed so far, so a failed batch (or a held gap) left behind would be
skipped by the next commit (faststream #2618). Infrastructure failures (database down, broker
unreachable for the DLQ) are retried until they pass.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from shared import reactions, redrive, tracing
from shared.clock import Clock, SystemClock
from shared.envelope import Envelope
from shared.eventstore import ConcurrencyError
from shared.fetch_pacing import REACTION_FETCH_WAIT_MS, FetchPacing, Poller
from shared.kafka_assignment import checked_roundrobin
from shared.metrics import DEAD_LETTERS, PROJECTION_EVENTS, PROJECTION_LAG
from shared.offset_commits import OffsetCommits
from shared.projection_gaps import GapTracker
from shared.registry import REGISTRY, EventData, EventRegistry, UnknownEventType
from shared.topic_wakeups import TopicWakeups
from shared.topology import dlq_topic

log = logging.getLogger(__name__)

TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


#: batches at least this big are applied with the cyclic GC paused (``ProjectionRunner.process``)
GC_PAUSE_RECORDS = 500


class DeadLetterUnavailable(Exception):
    """The dead-letter topic could not be written: retry the whole batch later."""


#: failures of the infrastructure, not of an event: retried until they pass, never dead-lettered
_RETRY_LATER: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, DeadLetterUnavailable)


class Projection(Protocol):
    name: str
    topics: Sequence[str]

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        """Change the read model for ``events`` (already de-duplicated, in order) inside ``conn``'s
        transaction."""
        ...


Handler = Callable[[asyncpg.Connection, Envelope, Any], Awaitable[None]]


@dataclass
class EventHandlers:
    """A projection made of one async handler per event type; other types are ignored."""

    name: str
    topics: Sequence[str]
    handlers: dict[str, Handler] = field(default_factory=dict)
    registry: EventRegistry = REGISTRY

    #: called with the whole batch before its handlers (e.g. to read what they need in one go)
    prepare: Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]] | None = None
    #: fetch wait while records come from a holding broker (``ProjectionRunner.subscribe``)
    busy_fetch_wait_ms: int = REACTION_FETCH_WAIT_MS

    def handles(self, event_type: str) -> bool:
        """Whether an event of this type does anything here (the runner validates only those)."""
        return event_type in self.handlers

    def on(self, *event_types: type[EventData]) -> Callable[[Handler], Handler]:
        """Register the handler for these event types (one reaction to events that mean the same)."""

        def register(fn: Handler) -> Handler:
            for event_type in event_types:
                self.handlers[event_type.event_type] = fn
            return fn

        return register

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        if self.prepare is not None:
            await self.prepare(conn, events)
        for env in events:
            handler = self.handlers.get(env.type)
            if handler is not None:
                with tracing.handling(env):  # what the handler appends continues env's trace
                    await handler(conn, env, self.registry.decode(env))


@dataclass
class _Item:
    record: ConsumerRecord  # type: ignore[type-arg]
    envelope: Envelope | None = None
    error: str | None = None  # set: dead-letter it (and, if the envelope parsed, mark it consumed)
    dead_lettered: bool = False
    held: bool = False  # behind a gap in its partition: decided on the pass that commits past it


async def _raw(message: Any) -> None:
    """FastStream decoder that decodes nothing: the runner parses records itself."""
    return None


@dataclass(eq=False)
class ProjectionRunner:
    projection: Projection
    _: KW_ONLY
    service: str
    pool: asyncpg.Pool
    broker: KafkaBroker
    registry: EventRegistry = REGISTRY
    clock: Clock = field(default_factory=SystemClock)
    max_attempts: int = 3
    max_message_bytes: int = 64 * 1024
    #: called after a transaction that applied events commits (the runner wakes the outbox
    #: relay with it, so events a reaction appended go out at once)
    on_commit: Callable[[], None] | None = None
    wakeups: InitVar[TopicWakeups | None] = None
    group_id: str = field(init=False)
    gaps: GapTracker = field(init=False)
    #: set when a relay announced one of the topics (idle consumers of a holding broker wait for it)
    wake: asyncio.Event | None = field(init=False)
    polling: Poller | None = field(default=None, init=False)  # the subscriber's (``subscribe``)

    def __post_init__(self, wakeups: TopicWakeups | None) -> None:
        self.group_id = f"{self.service}.{self.projection.name}"
        self.commits = OffsetCommits(self.group_id)
        #: the projection's ``handles(type)``, if it has one: other types are not validated
        self._handles: Callable[[str], bool] | None = getattr(self.projection, "handles", None)
        self.gaps = GapTracker(self.service, self.projection.name)
        self.wake = wakeups.watch(self.projection.topics) if wakeups is not None else None

    def poller(self, pacing: FetchPacing) -> Poller:
        """How this projection's consumer polls (``shared.fetch_pacing``); reports its lag."""
        return Poller(pacing, service=self.service, group=self.group_id, wake=self.wake)

    def subscribe(
        self,
        *,
        fetch_max_wait_ms: int = 10,
        pacing: FetchPacing | None = None,
        max_records: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        group_instance_id: str | None = None,
    ) -> None:
        """Register the batch subscriber on the broker (before the broker starts); with a
        ``group_instance_id`` it is a static member of its group (``shared.kafka_link``).

        ``pacing`` says how it polls (``shared.fetch_pacing``); without it, it long-polls with
        ``fetch_max_wait_ms``; a projection's ``busy_fetch_wait_ms`` relaxes it (a holding broker).
        The subscriber polls through a :class:`~shared.fetch_pacing.Poller` instead of
        FastStream's own ``get_msg``, which sleeps a whole batch timeout after every empty poll
        (records arriving meanwhile would wait) and reports no lag."""
        pacing = pacing or FetchPacing(fetch_max_wait_ms)
        if (busy := getattr(self.projection, "busy_fetch_wait_ms", None)) is not None:
            pacing = pacing.relaxed(busy)  # a projection that says how long it may wait
        poller = self.polling = self.poller(pacing)
        subscriber = self.broker.subscriber(
            *self.projection.topics,
            batch=True,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            fetch_max_wait_ms=pacing.fetch_max_wait_ms,
            batch_timeout_ms=pacing.fetch_max_wait_ms,
            max_records=max_records,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            decoder=_raw,
            group_instance_id=group_instance_id or None,
            # a stale assignment from the broker gets the consumer replaced (shared.kafka_link)
            partition_assignment_strategy=(checked_roundrobin(self.group_id),),
        )
        subscriber(self._on_batch)

        async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:  # type: ignore[type-arg]
            records = tuple(await poller.poll(consumer, max_records))
            if not records:
                await self.quiet(consumer)
            return records

        subscriber.get_msg = get_msg  # type: ignore[method-assign]

    async def _on_batch(self, body: Any, msg: KafkaMessage) -> None:
        records: Sequence[ConsumerRecord] = msg.raw_message  # type: ignore[type-arg,assignment]
        consumer: AIOKafkaConsumer = msg.consumer  # type: ignore[assignment]
        self.gaps.bind(consumer)
        await self.process(records)
        await self.commit(consumer, records)

    async def commit(self, consumer: AIOKafkaConsumer, records: Sequence[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        """Commit the batch's offsets, each partition's only up to its first unapplied gap (at
        most once a second while records come: :mod:`shared.offset_commits`)."""
        await self.commits.applied(consumer, self.gaps.commit_offsets(records))

    async def quiet(self, consumer: AIOKafkaConsumer) -> None:
        """A poll came back empty (or the consumer stops): commit what :meth:`commit` held back."""
        await self.commits.quiet(consumer)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        """Apply a batch of records: decode, apply idempotently, dead-letter what cannot apply.

        Callers commit with :meth:`commit` (or ``self.gaps.commit_offsets``) afterwards.

        A batch of at least ``GC_PAUSE_RECORDS`` (a backlog) is applied with the cyclic garbage
        collector paused: it keeps tens of thousands of fresh objects alive (envelopes, payload
        dicts), which makes CPython's collector rescan them again and again (over 40 % of HQ's time
        in a rebuild). Nothing a batch allocates forms cycles that need collecting before it ends.
        """
        if len(records) < GC_PAUSE_RECORDS or not gc.isenabled():
            await self._process(records)
            return
        gc.disable()
        try:
            await self._process(records)
        finally:
            gc.enable()

    async def _process(self, records: Sequence[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        self.gaps.begin(records)
        items = [self._decode(r) for r in records]
        with tracing.consuming(self.group_id, ((i.record, i.envelope) for i in items)):
            await self._until_done(lambda: self._apply_batch(items))
            for item in items:
                if item.error is not None and not item.dead_lettered and not item.held:  # safety net
                    await self._until_done(lambda item=item: self._dead_letter(item))  # type: ignore[misc]

    def _decode(self, record: ConsumerRecord) -> _Item:  # type: ignore[type-arg]
        item = _Item(record)
        raw = record.value or b""
        if len(raw) > self.max_message_bytes:
            item.error = f"message of {len(raw)} bytes exceeds the limit of {self.max_message_bytes}"
            return item
        try:
            envelope = Envelope.model_validate_json(raw)
        except ValidationError as exc:
            item.error = f"invalid envelope: {_summary(exc)}"
            return item
        item.envelope = envelope
        if self._handles is not None and not self._handles(envelope.type):
            # ignored here: its position counts, its payload is never read, so not validated
            # (model, dump and comparison: most of a decode); an unknown type is still refused
            try:
                self.registry.model_for(envelope.type)
            except UnknownEventType as exc:
                item.error = str(exc)
            return item
        try:
            item.envelope = self.registry.upcast(envelope)
        except UnknownEventType as exc:
            item.error = str(exc)
        except ValidationError as exc:
            item.error = f"invalid {envelope.type} data: {_summary(exc)}"
        return item

    async def _apply_batch(self, items: list[_Item]) -> None:
        """The batch in one transaction; a conflict with a concurrent command is decided again on
        a fresh load (twice); any other failure: event by event in savepoints of one transaction
        (``ReactionBatch.isolated``), and if even that fails, one transaction per event."""
        for _ in range(3):
            try:
                await self._transaction(items)
                return
            except _RETRY_LATER:
                raise
            except ConcurrencyError as exc:
                error: Exception = exc
            except Exception as exc:
                error = exc
                break
        if sum(1 for i in items if i.error is None) <= 1:
            await self._apply_alone(items, error)
            return
        log.warning("projection %s: batch failed (%r); applying event by event", self.group_id, error)
        try:
            await self._transaction(items, isolate=True)
            return
        except _RETRY_LATER:
            raise
        except Exception as again:
            log.warning("projection %s: batch failed again (%r); one by one", self.group_id, again)
            error = again
        for item in items:
            await self._apply_alone([item], error)

    async def _apply_alone(self, items: list[_Item], first_error: Exception | None) -> None:
        error = first_error
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._transaction(items)
                return
            except _RETRY_LATER:
                raise
            except Exception as exc:
                error = exc
                await asyncio.sleep(0.05 * attempt)
        for item in items:
            if item.error is None:
                item.error = f"projection {self.projection.name} failed {self.max_attempts} times: {error!r}"
        await self._transaction(items)  # marks them consumed, applies nothing

    async def _transaction(self, items: list[_Item], *, isolate: bool = False) -> None:
        """One transaction: lock the streams' progress rows, apply the next versions, record them.

        The projection applies the batch's events in one call, inside a reaction batch
        (``shared.reactions``): the commands its reactions run are decided together and written
        with the progress record in a few statements. ``isolate``: each event in a savepoint of
        its own instead, tried ``max_attempts`` times; one that still fails is dead-lettered and
        marked consumed, the others apply (the fallback after the whole batch failed)."""
        parsed = [i for i in items if i.envelope is not None]
        if not parsed:
            self._mark_held(items)
            await self._dead_letter_pending(items)
            return
        name = self.projection.name
        streams = sorted({i.envelope.stream_id for i in parsed if i.envelope})
        fresh: list[Envelope] = []
        fresh_items: list[_Item] = []
        counts = {"applied": 0, "duplicate": 0, "out_of_order": 0}
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO projection_positions (projection, stream_id, version)
                   SELECT $1, s, 0 FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING""",
                name,
                streams,
            )
            rows = await conn.fetch(
                """SELECT stream_id, version FROM projection_positions
                   WHERE projection = $1 AND stream_id = ANY($2::text[])
                   ORDER BY stream_id FOR UPDATE""",
                name,
                streams,
            )
            last = {r["stream_id"]: r["version"] for r in rows}
            before = dict(last)
            for item in parsed:
                env = item.envelope
                assert env is not None
                if item.error is not None and self.gaps.beyond_hold(item.record):
                    item.held = True  # a dead letter behind a gap waits for the pass past the gap
                    continue
                current = last[env.stream_id]
                if env.stream_version == current + 1:
                    last[env.stream_id] = env.stream_version
                    if item.error is None:
                        fresh.append(env)
                        fresh_items.append(item)
                        counts["applied"] += 1
                elif env.stream_version <= current and await redrive.claim(conn, item.record, self.group_id):
                    if item.error is None:  # an operator redrove its dead letter: apply it, once, late
                        fresh.append(env)
                        fresh_items.append(item)
                        counts["applied"] += 1
                elif env.stream_version <= current:
                    counts["duplicate"] += 1
                    item.error = None  # a duplicate of something already handled: not dead
                else:
                    # an earlier version is missing: never commit past this record until it
                    # came by (the relay republishes what a broker lost, in store order)
                    counts["out_of_order"] += 1
                    item.error = None
                    self.gaps.hold(
                        item.record, f"{env.stream_id} v{env.stream_version} arrived before v{current + 1}"
                    )
            with reactions.opened(conn) as batch:
                if fresh and isolate:
                    apply = self.projection.apply
                    failures = await batch.isolated(apply, fresh, self.max_attempts, _RETRY_LATER)
                    for index, error in failures.items():
                        failed = f"projection {name} failed {self.max_attempts} times: {error!r}"
                        fresh_items[index].error = failed
                    counts["applied"] -= len(failures)
                elif fresh:
                    await self.projection.apply(conn, fresh)
                self._mark_held(items)
                changed = [(s, v) for s, v in last.items() if v != before[s]]
                progress = [(_SET_POSITIONS, (name, [s for s, _ in changed], [v for _, v in changed]))]
                if any(i.error is not None and not i.dead_lettered and not i.held for i in items):
                    await batch.flush()  # the reactions' writes, then the dead letters
                    await self._dead_letter_pending(items)  # before the progress record commits
                await batch.flush(progress if changed else ())  # with the reactions' append
        if fresh and self.on_commit is not None:
            self.on_commit()
        for outcome, n in counts.items():
            if n:
                PROJECTION_EVENTS.labels(self.service, name, outcome).inc(n)
        if fresh:
            lag = (self.clock.now() - fresh[-1].recorded_at).total_seconds()
            PROJECTION_LAG.labels(self.service, name).set(max(lag, 0.0))

    def _mark_held(self, items: list[_Item]) -> None:
        """Records that are not even envelopes, behind a gap: dead-lettered on a later pass."""
        for item in items:
            if item.envelope is None and item.error is not None and self.gaps.beyond_hold(item.record):
                item.held = True

    async def _dead_letter_pending(self, items: list[_Item]) -> None:
        """Dead-letter, in their order, the items that still have an error (not behind a gap)."""
        for item in items:
            if item.error is not None and not item.dead_lettered and not item.held:
                try:
                    await self._dead_letter(item)
                except Exception as exc:
                    raise DeadLetterUnavailable(repr(exc)) from exc
                item.dead_lettered = True

    async def _dead_letter(self, item: _Item) -> None:
        """Publish the record as it came to ``<topic>.dlq`` and wait for the broker's ack."""
        record = item.record
        reason = (item.error or "unknown")[:1000]
        topic = dlq_topic(record.topic)
        await self.broker.publish(
            record.value or b"",
            topic=topic,
            key=record.key,
            headers={
                "x-dlq-reason": reason,
                "x-original-topic": record.topic,
                "x-original-partition": str(record.partition),
                "x-original-offset": str(record.offset),
                "x-consumer": self.group_id,
            },
        )
        DEAD_LETTERS.labels(self.service, topic).inc()
        PROJECTION_EVENTS.labels(self.service, self.projection.name, "dead_lettered").inc()
        log.error(
            "projection %s: dead-lettered %s[%d]@%d: %s",
            self.group_id,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )

    async def _until_done(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` until it passes; only infrastructure failures get here."""
        backoff = 0.05
        while True:
            try:
                await step()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("projection %s: %r; retrying in %.2fs", self.group_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


#: the batch's progress record: each stream's last applied version
_SET_POSITIONS = """UPDATE projection_positions p SET version = c.version
    FROM unnest($2::text[], $3::int[]) AS c(stream_id, version)
    WHERE p.projection = $1 AND p.stream_id = c.stream_id"""


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())[:500]
