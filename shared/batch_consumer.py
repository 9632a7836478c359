"""A projection driven by its own aiokafka consumer instead of a FastStream subscriber, for loops
that decide what a batch is themselves: the HQ feed (batches that linger a few ms, KPI deltas
published once per window) and HQ (generation switching: a rebuild moves to a new consumer group
while the service runs).

The :class:`~shared.projection.ProjectionRunner` still does the work (decode, dead-letter,
exactly-once apply with ``projection_positions``); :class:`BatchConsumer` is the one loop around it:

- builds the consumer with the service's settings, joins its group (state on ``/ready``), polls
  through the runner's :class:`~shared.fetch_pacing.Poller`, replaces a consumer whose assignment
  went stale, and retries with a backoff whatever fails;
- a batch is what one poll gives, or, with ``linger_seconds``, what comes within that long of its
  first record (at most ``max_batch``); offsets are committed after the batch's transaction, never
  past a gap, at most once a second while records keep coming and at once when a poll comes back
  empty or the consumer stops (``runner.commit``, ``runner.quiet``);
- **generation switching** (``generations=``, :mod:`shared.generations`): consumes under the
  current generation's group, polls the generation every ``poll_seconds`` and starts over under the
  new group when it changed; a generation counts as caught up once the consumer reached the end
  offsets it saw when the generation started;
- :class:`Hooks`: what the service does after each batch (metrics, waking its relay), when its
  generation or rebuilding state changes, and at a deadline of its own even when no records come
  (the poll never waits past it: the HQ feed's window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import UnknownTopicOrPartitionError

from shared.fetch_pacing import FetchPacing, Poller
from shared.generations import CatchUp, Generations
from shared.kafka_assignment import StaleAssignment, checked_roundrobin, forget, stale_assignment
from shared.kafka_link import consumer_settings
from shared.kafka_topics import ensure_topics, topic_spec
from shared.projection import Projection, ProjectionRunner
from shared.registry import EventRegistry
from shared.runner import ServiceContext
from shared.topology import dlq_topic

log = logging.getLogger(__name__)

Records = list[ConsumerRecord]  # type: ignore[type-arg]


def projection_runner(
    ctx: ServiceContext,
    projection: Projection,
    *,
    registry: EventRegistry | None = None,
    on_commit: Callable[[], None] | None = None,
) -> ProjectionRunner:
    """The runner of ``projection`` under the service's settings (attempts, message size)."""
    settings = ctx.settings
    return ProjectionRunner(
        projection,
        service=ctx.name,
        pool=ctx.pool,
        broker=ctx.broker,
        registry=registry or ctx.registry,
        clock=ctx.clock,
        max_attempts=settings.projection_max_attempts,
        max_message_bytes=settings.max_event_bytes + 4096,
        on_commit=on_commit,
        wakeups=ctx.wakeups,  # idle consumers of a holding broker wake when a relay announces
    )


def batch_consumer(
    ctx: ServiceContext, topics: Iterable[str], group_id: str, *, max_batch: int, **options: Any
) -> AIOKafkaConsumer:
    """A consumer of ``topics`` in ``group_id`` from the earliest offsets, committing by hand
    (after the batch's transaction), that notices a re-created topic within seconds and turns a
    stale assignment into :class:`~shared.kafka_assignment.StaleAssignment`."""
    settings = ctx.settings
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FetchPacing.of(settings).fetch_max_wait_ms,  # poll through its Poller
        max_poll_records=max_batch,
        metadata_max_age_ms=5_000,
        partition_assignment_strategy=(checked_roundrobin(group_id),),
        **consumer_settings(
            settings.kafka_group_instance_id,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        ),
        **options,
    )


async def start(ctx: ServiceContext, consumer: AIOKafkaConsumer, group_id: str) -> None:
    """Join the group, with its state on ``/ready`` ("joining", then "ok"); a consumer that
    could not start is stopped before the error goes on."""
    ctx.kafka.consumers[group_id] = "joining"
    try:
        await consumer.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise
    ctx.kafka.consumers[group_id] = "ok"


class Hooks:
    """What a service adds to the loop; every method may be left as it is."""

    def after_batch(self, records: Records, *, polled_at: float, seconds: float, rebuilding: bool) -> None:
        """A batch was applied and its offsets committed: ``polled_at`` its first record came
        (``time.monotonic()``), ``seconds`` its apply + commit took."""

    def on_generation(self, generation: int, *, rebuilding: bool) -> None:
        """The consumer started on ``generation``, or the generation caught up."""

    def due_at(self) -> float | None:
        """When :meth:`on_due` must run (``time.monotonic()``), None for never; polls stop waiting then."""
        return None

    async def on_due(self) -> None:
        """Work at the deadline (between batches: never concurrent with one)."""


@dataclass(eq=False)
class BatchConsumer:
    """The loop around a projection's runner (module docstring)."""

    ctx: ServiceContext
    projection: Projection
    _: KW_ONLY
    max_batch: int
    linger_seconds: float = 0.0
    registry: InitVar[EventRegistry | None] = None
    on_commit: InitVar[Callable[[], None] | None] = None
    generations: Generations | None = None
    hooks: Hooks = field(default_factory=Hooks)
    consumer_options: dict[str, Any] = field(default_factory=dict)
    create_missing_topics: bool = False
    #: every batch published to the topics is announced: rest once caught up (``shared.fetch_pacing``)
    announced: bool = False
    runner: ProjectionRunner = field(init=False)
    poller: Poller = field(init=False)
    group: str = field(init=False)
    generation: int = field(default=0, init=False)
    rebuilding: bool = field(init=False)
    batches: int = field(default=0, init=False)
    #: when the last poll returned (a batch's first records)
    polled_at: float = field(default=0.0, init=False)

    def __post_init__(self, registry: EventRegistry | None, on_commit: Callable[[], None] | None) -> None:
        self.runner = projection_runner(self.ctx, self.projection, registry=registry, on_commit=on_commit)
        pacing = FetchPacing.of(self.ctx.settings, announced=self.announced)
        self.poller = self.runner.poller(pacing)  # idle: (almost) no fetches
        self.group = self.runner.group_id
        self.rebuilding = self.generations is not None

    async def run(self) -> None:
        """The background task: consume (the current generation); on failure, start over."""
        backoff = 0.2
        while True:
            try:
                if self.generations is None:
                    await self._consume(self.group, None, None)
                else:
                    await self._switching(self.generations)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s consumer failed (%r); retrying in %.1f s", self.group, exc, backoff)
                self.ctx.kafka.consumers[self.group] = f"retrying: {exc!r}"[:300]  # /ready
                if isinstance(exc, UnknownTopicOrPartitionError) and self.create_missing_topics:
                    await self._ensure_topics()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _switching(self, generations: Generations) -> None:
        """Consume the current generation until it changes (then return: ``run`` starts over)."""
        async with self.ctx.pool.acquire() as conn:
            generation = await generations.current(conn)
        stop = asyncio.Event()
        group = generations.group_id(generation)
        task = asyncio.create_task(self._consume(group, generation, stop), name=f"{group}-consumer")
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=generations.poll_seconds)
                if task.done():
                    break
                async with self.ctx.pool.acquire() as conn:
                    if await generations.current(conn) != generation:
                        log.info("%s: read model generation changed: starting over", group)
                        stop.set()
                        await task
            task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _consume(self, group: str, generation: int | None, stop: asyncio.Event | None) -> None:
        consumer = batch_consumer(
            self.ctx, self.projection.topics, group, max_batch=self.max_batch, **self.consumer_options
        )
        self.group = group
        await start(self.ctx, consumer, group)  # a stale assignment makes run() start a new one
        self.runner.gaps.bind(consumer)  # a gap holds its partition back (shared.projection_gaps)
        catch_up: CatchUp | None = None
        try:
            if generation is not None and self.generations is not None:
                status = self.ctx.kafka.consumers  # for /ready
                for name in [g for g in status if g != group]:
                    del status[name]  # an older generation's group
                self.generation = generation
                catch_up = await CatchUp.of(
                    self.generations, self.ctx.pool, consumer, self.projection.topics, generation
                )
                self.rebuilding = catch_up is not None
                self.hooks.on_generation(generation, rebuilding=self.rebuilding)
            while stop is None or not stop.is_set():
                if (stale := stale_assignment(group)) is not None:
                    forget(group)  # run() starts a new consumer: a new member
                    raise StaleAssignment(stale)
                records = await self._batch(consumer)
                if records:
                    await self._apply(consumer, records, generation, catch_up)
                else:
                    await self.runner.quiet(consumer)  # the offsets held back (runner.commit)
                due = self.hooks.due_at()
                if due is not None and time.monotonic() >= due:
                    await self.hooks.on_due()
                if catch_up is not None and generation is not None:
                    if await catch_up.reached(consumer, idle=not records):
                        await self._caught_up(generation, catch_up)
                        catch_up = None
        finally:
            with contextlib.suppress(Exception):
                await self.runner.quiet(consumer)
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _apply(
        self, consumer: AIOKafkaConsumer, records: Records, generation: int | None, catch_up: CatchUp | None
    ) -> None:
        if catch_up is not None and generation is not None and catch_up.records == 0 and self.generations:
            async with self.ctx.pool.acquire() as conn:
                await self.generations.mark_started(conn, generation, self.ctx.clock.now())
        started = time.perf_counter()
        await self.runner.process(records)  # big batches: GC paused there
        # never past a gap: a held version is read again once its predecessor came by
        await self.runner.commit(consumer, records)
        self.batches += 1
        if catch_up is not None:
            catch_up.saw(records)
        self.hooks.after_batch(
            records,
            polled_at=self.polled_at,
            seconds=time.perf_counter() - started,
            rebuilding=self.rebuilding,
        )

    async def _caught_up(self, generation: int, catch_up: CatchUp) -> None:
        assert self.generations is not None
        async with self.ctx.pool.acquire() as conn:
            await self.generations.mark_caught_up(conn, generation, catch_up.records, self.ctx.clock.now())
        log.info("%s: generation %d caught up (%d records)", self.group, generation, catch_up.records)
        self.rebuilding = False
        self.hooks.on_generation(generation, rebuilding=False)

    async def _batch(self, consumer: AIOKafkaConsumer) -> Records:
        """One poll's records (waiting no later than the hooks' deadline), then, with a linger,
        what comes within ``linger_seconds`` of the first record, at most ``max_batch``."""
        limit = self.max_batch
        due = self.hooks.due_at()
        wait_ms = None if due is None else max(int((due - time.monotonic()) * 1000), 0)
        records = await self.poller.poll(consumer, limit, max_wait_ms=wait_ms)
        self.polled_at = time.monotonic()
        if not records or self.linger_seconds <= 0:
            return records
        deadline = self.polled_at + self.linger_seconds
        while len(records) < limit and (left := deadline - time.monotonic()) > 0:
            more = await consumer.getmany(
                timeout_ms=max(int(left * 1000), 1), max_records=limit - len(records)
            )
            records += [r for part in more.values() for r in part]
        return records

    async def _ensure_topics(self) -> None:
        """A topic is missing (a broker restarted empty while its producer is down): create it as
        deploy/kafka/topics.md says, so the consumer goes on with the others meanwhile."""
        topics = list(self.projection.topics)
        specs = [topic_spec(t, self.ctx.settings.kafka_topic_partitions) for t in topics]
        specs += [topic_spec(dlq_topic(t)) for t in topics]
        try:
            await ensure_topics(self.ctx.settings.kafka_bootstrap_servers, specs)
        except Exception as exc:
            log.warning("%s consumer: could not create its topics (%r)", self.group, exc)
