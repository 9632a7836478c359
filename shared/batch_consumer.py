"""A projection driven by its own aiokafka consumer instead of a FastStream subscriber, for a
loop that decides what a batch is itself: HQ's generation switch (a rebuild moves to a new
consumer group while the service runs) and the HQ feed's time windows.

The :class:`~shared.projection.ProjectionRunner` still does the work (decode, dead-letter,
exactly-once apply); these helpers build it and the consumer with the service's settings, the
same way for both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.kafka_assignment import checked_roundrobin
from shared.kafka_link import consumer_settings
from shared.projection import Projection, ProjectionRunner
from shared.registry import EventRegistry
from shared.runner import ServiceContext


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
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
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
