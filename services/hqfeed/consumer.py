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
from shared.batch_consumer import batch_consumer, projection_runner, start
from shared.kafka_assignment import StaleAssignment, forget, stale_assignment
from shared.runner import ServiceContext

log = logging.getLogger(__name__)


class FeedConsumer:
    def __init__(self, ctx: ServiceContext, projection: HqFeed, config: FeedConfig) -> None:
        self.ctx = ctx
        self.projection = projection
        self.config = config
        # the contract events are committed: wake the relay
        self.runner = projection_runner(ctx, projection, on_commit=ctx.store.notifier.poke)

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
        group = self.runner.group_id
        consumer = batch_consumer(self.ctx, self.projection.topics, group, max_batch=self.config.max_batch)
        await start(self.ctx, consumer, group)  # a stale assignment makes run() start a new one
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
        first = await consumer.getmany(timeout_ms=500, max_records=limit)
        records = [r for part in first.values() for r in part]
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
