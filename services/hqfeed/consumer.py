"""The aggregator's consumer: batches of the domain topics collected over a time window.

The shared :class:`~shared.projection.ProjectionRunner` does the work (decode, dead-letter,
exactly-once apply with ``projection_positions``, offsets committed only after the batch's
transaction, and never past a gap: ``runner.commit``); this loop only decides what a batch is. A
batch waits for ``window_seconds`` after its first record (or until ``max_batch`` records), so a
busy branch yields one KPI delta per window instead of one per event: HQ's input grows with
branches × time, not with every branch event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.hqfeed.config import FeedConfig
from services.hqfeed.projection import HqFeed
from shared.fetch_pacing import FetchPacing
from shared.kafka_assignment import StaleAssignment, checked_roundrobin, forget, stale_assignment
from shared.kafka_link import consumer_settings
from shared.projection import ProjectionRunner
from shared.runner import ServiceContext

log = logging.getLogger(__name__)


class FeedConsumer:
    def __init__(self, ctx: ServiceContext, projection: HqFeed, config: FeedConfig) -> None:
        self.ctx = ctx
        self.projection = projection
        self.config = config
        settings = ctx.settings
        self.runner = ProjectionRunner(
            projection,
            service=ctx.name,
            pool=ctx.pool,
            broker=ctx.broker,
            registry=ctx.registry,
            clock=ctx.clock,
            max_attempts=settings.projection_max_attempts,
            max_message_bytes=settings.max_event_bytes + 4096,
            on_commit=ctx.store.notifier.poke,  # the contract events are committed: wake the relay
            wakeups=ctx.wakeups,
        )
        self.pacing = FetchPacing.of(settings)
        self.poller = self.runner.poller(self.pacing)  # idle: (almost) no fetches (shared.fetch_pacing)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hqfeed consumer failed (%r); retrying in %.1f s", exc, backoff)
                self.ctx.kafka.consumers[self.runner.group_id] = f"retrying: {exc!r}"[:300]  # /ready
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _consume(self) -> None:
        settings = self.ctx.settings
        consumer = AIOKafkaConsumer(
            *self.projection.topics,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=self.runner.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.pacing.fetch_max_wait_ms,
            max_poll_records=self.config.max_batch,
            metadata_max_age_ms=5_000,  # notices a re-created topic within seconds
            # a stale assignment from the broker makes run() start a new consumer
            partition_assignment_strategy=(checked_roundrobin(self.runner.group_id),),
            **consumer_settings(
                settings.kafka_group_instance_id,
                session_timeout_ms=settings.kafka_session_timeout_ms,
                heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            ),
        )
        self.ctx.kafka.consumers[self.runner.group_id] = "joining"  # /ready
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self.ctx.kafka.consumers[self.runner.group_id] = "ok"
        self.runner.gaps.bind(consumer)  # a gap holds its partition back (shared.projection_gaps)
        try:
            while True:
                if (stale := stale_assignment(self.runner.group_id)) is not None:
                    forget(self.runner.group_id)
                    raise StaleAssignment(stale)
                records = await self._window(consumer)
                if not records:
                    continue
                await self.runner.process(records)
                # never past a gap: a held version is read again once its predecessor came by
                await self.runner.commit(consumer, records)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _window(self, consumer: AIOKafkaConsumer) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        """Records of one window: from the first record, ``window_seconds`` or ``max_batch``."""
        limit = self.config.max_batch
        records = await self.poller.poll(consumer, limit)
        if not records:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.window_seconds
        while len(records) < limit and (left := deadline - loop.time()) > 0:
            more = await consumer.getmany(
                timeout_ms=max(int(left * 1000), 1), max_records=limit - len(records)
            )
            records += [r for part in more.values() for r in part]
        return records
