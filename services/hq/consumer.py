"""HQ's consumer: one consumer group over the branch side's contract topic, generation-aware.

It drives the shared :class:`~shared.projection.ProjectionRunner` (decode, dead-letter, exactly-once
apply with ``projection_positions``) with its own aiokafka consumer instead of a FastStream
subscriber, because a rebuild must switch to a new consumer group (from the earliest offsets)
while the service runs: each loop reads the read model's generation, consumes under that
generation's group, commits offsets only after the batch's transaction, and starts over when the
generation changes (a rebuild requested here, by the CLI or by another replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, UnknownTopicOrPartitionError

from services.hq import metrics
from services.hq.config import HqConfig
from services.hq.projections import BranchKpis
from services.hq.rebuild import (
    current_generation,
    group_id,
    is_caught_up,
    mark_caught_up,
    mark_started,
    set_target,
)
from shared.batch_consumer import batch_consumer, projection_runner, start
from shared.envelope import Envelope
from shared.kafka_assignment import StaleAssignment, forget, stale_assignment
from shared.kafka_topics import ensure_topics, topic_spec
from shared.registry import REGISTRY, EventRegistry
from shared.runner import ServiceContext
from shared.topology import dlq_topic

log = logging.getLogger(__name__)


#: batches at least this big are applied with the cyclic GC paused (see ``HqConsumer._process``)
GC_PAUSE_RECORDS = 500


def _tp_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class ValidatingRegistry(EventRegistry):
    """The event registry as HQ's runner uses it: an event at its model's current version is
    validated exactly as the general path does, without the re-serialisation and comparison (and
    copy) the general path adds; older versions take the general path, which upcasts them.

    Contract events leave their defaults out (smaller records), so the general path would always
    find its re-serialisation different and copy the envelope: a third of a rebuild's time."""

    def __init__(self, inner: EventRegistry = REGISTRY) -> None:
        super().__init__()
        self.inner = inner
        for model in inner.models().values():
            self.register(model)

    def upcast(self, envelope: Envelope, *, stored: bool = False) -> Envelope:
        model = self.model_for(envelope.type)
        if envelope.schema_version != model.schema_version:
            return self.inner.upcast(envelope, stored=stored)
        model.model_validate(envelope.data)
        return envelope


class HqConsumer:
    def __init__(self, ctx: ServiceContext, projection: BranchKpis, config: HqConfig) -> None:
        self.ctx = ctx
        self.projection = projection
        self.config = config
        self.runner = projection_runner(ctx, projection, registry=ValidatingRegistry(ctx.registry))
        self.generation = 0
        self.rebuilding = True
        self.batches = 0

    async def run(self) -> None:
        """The background task: consume the current generation; switch when it changes."""
        backoff = 0.2
        while True:
            try:
                async with self.ctx.pool.acquire() as conn:
                    generation = await current_generation(conn)
                stop = asyncio.Event()
                task = asyncio.create_task(self._consume(generation, stop), name=f"hq-consumer-g{generation}")
                try:
                    while not task.done():
                        await asyncio.wait({task}, timeout=self.config.generation_poll_seconds)
                        if task.done():
                            break
                        async with self.ctx.pool.acquire() as conn:
                            if await current_generation(conn) != generation:
                                log.info("HQ read model generation changed: starting over")
                                stop.set()
                                await task
                    task.result()
                    backoff = 0.2
                finally:
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(BaseException):
                            await task
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("HQ consumer failed (%r); retrying in %.1f s", exc, backoff)
                for name in self.ctx.kafka.consumers:
                    self.ctx.kafka.consumers[name] = f"retrying: {exc!r}"[:300]
                if isinstance(exc, UnknownTopicOrPartitionError):
                    await self._ensure_topics()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _consume(self, generation: int, stop: asyncio.Event) -> None:
        group = group_id(generation)
        consumer = batch_consumer(
            self.ctx,
            self.projection.topics,
            group,
            max_batch=self.config.max_batch,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await start(self.ctx, consumer, group)  # a stale assignment makes this loop start a new one
        self.runner.gaps.bind(consumer)  # a gap holds its partition back (shared.projection_gaps)
        status = self.ctx.kafka.consumers  # for /ready
        for name in [g for g in status if g != group]:
            del status[name]  # an older generation's group
        self.generation = generation
        metrics.GENERATION.set(generation)
        try:
            target = await self._target(consumer, generation)
            self.rebuilding = target is not None
            metrics.REBUILDING.set(1 if self.rebuilding else 0)
            seen: dict[str, int] = {}
            records_total = 0
            while not stop.is_set():
                if (stale := stale_assignment(group_id(generation))) is not None:
                    forget(group_id(generation))  # run() starts a new consumer: a new member
                    raise StaleAssignment(stale)
                batches = await consumer.getmany(timeout_ms=100, max_records=self.config.max_batch)
                records = [r for part in batches.values() for r in part]
                if records:
                    if target is not None and records_total == 0:
                        async with self.ctx.pool.acquire() as conn:
                            await mark_started(conn, generation, self.ctx.clock.now())
                    started = time.perf_counter()
                    await self._process(records)
                    try:
                        await consumer.commit(self.runner.gaps.commit_offsets(records))  # type: ignore[arg-type]
                    except (CommitFailedError, KafkaError) as exc:  # a rebalance: redelivery is harmless
                        log.warning("HQ consumer: commit failed (%r); the batch may be redelivered", exc)
                    self.batches += 1
                    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
                    metrics.BATCH_RECORDS.observe(len(records))
                    records_total += len(records)
                    for r in records:
                        key = f"{r.topic}:{r.partition}"
                        if r.offset + 1 > seen.get(key, 0):
                            seen[key] = r.offset + 1
                    self._after_batch()
                if target is not None and await self._reached(consumer, target, seen, idle=not records):
                    async with self.ctx.pool.acquire() as conn:
                        await mark_caught_up(conn, generation, records_total, self.ctx.clock.now())
                    log.info("HQ read model generation %d caught up (%d records)", generation, records_total)
                    target = None
                    self.rebuilding = False
                    metrics.REBUILDING.set(0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _ensure_topics(self) -> None:
        """A branch topic is missing (a broker restarted empty while its producer is down): create
        it as deploy/kafka/topics.md says, so HQ goes on consuming the others meanwhile."""
        topics = list(self.projection.topics)
        specs = [topic_spec(t, self.ctx.settings.kafka_topic_partitions) for t in topics]
        specs += [topic_spec(dlq_topic(t)) for t in topics]
        try:
            await ensure_topics(self.ctx.settings.kafka_bootstrap_servers, specs)
        except Exception as exc:
            log.warning("HQ consumer: could not create its topics (%r)", exc)

    async def _process(self, records: list[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        """Apply a batch with the cyclic garbage collector paused for big ones: a batch keeps tens of
        thousands of fresh objects alive (envelopes, payload dicts), which makes CPython's collector
        rescan them again and again — over 40 % of HQ's time in a rebuild. Nothing a
        batch allocates forms cycles that need collecting before the batch ends."""
        if len(records) < GC_PAUSE_RECORDS or not gc.isenabled():
            await self.runner.process(records)
            return
        gc.disable()
        try:
            await self.runner.process(records)
        finally:
            gc.enable()

    def _after_batch(self) -> None:
        now = self.ctx.clock.now()
        if not self.rebuilding:
            for recorded in self.projection.applied_recorded_at:
                metrics.FRESHNESS.observe(max((now - recorded).total_seconds(), 0.0))
        self.projection.applied_recorded_at.clear()
        if self.projection.published:
            self.projection.published = 0
            self.ctx.store.notifier.poke()  # the alerts are committed: wake the relay

    async def _target(self, consumer: AIOKafkaConsumer, generation: int) -> dict[str, int] | None:
        """The end offsets to reach before this generation counts as caught up (None: it is)."""
        async with self.ctx.pool.acquire() as conn:
            if await is_caught_up(conn, generation):
                return None
        partitions = await self._partitions(consumer, self.projection.topics)
        ends = await consumer.end_offsets(partitions) if partitions else {}
        target = {_tp_key(tp): int(offset) for tp, offset in ends.items()}
        async with self.ctx.pool.acquire() as conn:
            return await set_target(conn, generation, target)

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
        out: list[TopicPartition] = []
        for topic in topics:
            parts = consumer.partitions_for_topic(topic)
            for _ in range(50):
                if parts:
                    break
                await consumer.topics()  # refresh metadata
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await asyncio.sleep(0.1)
            out += [TopicPartition(topic, p) for p in sorted(parts or ())]
        return out

    @staticmethod
    async def _reached(
        consumer: AIOKafkaConsumer, target: dict[str, int], seen: dict[str, int], *, idle: bool
    ) -> bool:
        """Every partition of the target read up to its end offset (asked of the consumer when idle,
        for partitions whose last offsets hold no record)."""
        missing = [k for k, end in target.items() if end > 0 and seen.get(k, 0) < end]
        if not missing:
            return True
        if not idle:
            return False
        assigned = {_tp_key(tp): tp for tp in consumer.assignment()}
        for key in missing:
            tp = assigned.get(key)
            if tp is None:
                return False
            try:
                if await consumer.position(tp) < target[key]:
                    return False
            except Exception:
                return False
        return True
