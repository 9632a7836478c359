"""Publishing envelopes as a relay would, reading what really reached a topic, and checking the order
the relay promises."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from shared.devstack import create_topics
from shared.envelope import Envelope, to_json


async def new_topic(bootstrap_servers: str, prefix: str = "test", partitions: int = 3) -> str:
    """A topic of its own for one test (and its ``.dlq``), created and visible."""
    topic = f"{prefix}.{uuid.uuid4().hex[:10]}.v1"
    await create_topics(bootstrap_servers, [topic, f"{topic}.dlq"], partitions=partitions)
    return topic


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord]], bool],  # type: ignore[type-arg]
    timeout: float = 30.0,
) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    """Every record of ``topic`` from the beginning (no consumer group), until ``until(records)``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []  # type: ignore[type-arg]
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        for _ in range(100):
            if partitions:
                break
            await asyncio.sleep(0.05)
            await consumer.topics()  # refresh metadata
            partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(records):
            if loop.time() > deadline:
                raise TimeoutError(
                    f"{topic}: condition not met after {timeout:.0f} s ({len(records)} records)"
                )
            batch = await consumer.getmany(timeout_ms=100)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def envelopes(records: Sequence[ConsumerRecord], *, strict: bool = True) -> list[Envelope]:  # type: ignore[type-arg]
    """The records' envelopes; ``strict=False`` skips what is not one (a shared topic may carry
    other tests' poison messages)."""
    if strict:
        return [Envelope.model_validate_json(r.value) for r in records]
    parsed = []
    for r in records:
        try:
            parsed.append(Envelope.model_validate_json(r.value))
        except ValidationError:
            continue
    return parsed


def distinct_event_ids(records: Sequence[ConsumerRecord]) -> set[str]:  # type: ignore[type-arg]
    return {str(e.event_id) for e in envelopes(records)}


@dataclass
class StreamOrder:
    """What a per-stream reader saw: the last version of each stream and how many duplicates."""

    last: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


def check_stream_order(records: Sequence[ConsumerRecord]) -> StreamOrder:  # type: ignore[type-arg]
    """Each stream's new versions arrive as 1, 2, 3, ... with no gap; repeats of older ones are
    allowed (at-least-once). This is exactly what the projection runner can apply."""
    seen = StreamOrder()
    for env in envelopes(records):
        last = seen.last.get(env.stream_id, 0)
        if env.stream_version <= last:
            seen.duplicates += 1
        elif env.stream_version == last + 1:
            seen.last[env.stream_id] = env.stream_version
        else:
            raise AssertionError(f"{env.stream_id}: v{env.stream_version} arrived right after v{last}")
    return seen


async def publish(bootstrap_servers: str, topic: str, *envs: Envelope) -> None:
    """Envelopes onto ``topic`` keyed by branch, as a service's relay publishes them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for env in envs:
            await producer.send_and_wait(topic, to_json(env), key=env.branch_id.encode())
    finally:
        await producer.stop()


async def published(
    bootstrap_servers: str,
    topic: str,
    predicate: Callable[[Envelope], bool],
    count: int = 1,
    timeout: float = 20,
) -> list[Envelope]:
    """Envelopes on ``topic`` matching ``predicate``, once at least ``count`` arrived."""

    def matching(records: list[Any]) -> list[Envelope]:
        return [e for e in envelopes(records) if predicate(e)]

    records = await read_topic(
        bootstrap_servers, topic, until=lambda r: len(matching(r)) >= count, timeout=timeout
    )
    return matching(records)
