"""The relay's producer (shared.relay_kafka) against a real broker: what it reports is what is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka.structs import RecordMetadata

from shared.eventstore import StoredEvent
from shared.relay_kafka import connected_producer
from shared.runner import _kafka_broker, kafka_publisher
from shared.settings import ServiceSettings
from tests.support.kafka import new_topic, read_topic

pytestmark = pytest.mark.integration


def stored(position: int, branch: int, size: int = 600) -> StoredEvent:
    body = json.dumps({"event_id": f"e{position}", "pad": "x" * size})
    return StoredEvent(position, f"branch-{branch:03d}", f"Type{position % 3}", body, position, None)


async def test_acks_name_each_record_where_the_broker_stored_it(database_url: str, kafka: Any) -> None:
    """Per event: the partition aiokafka's own partitioner gives its branch, and the offset at which
    a reader finds it; several record batches per partition (past ``max_batch_size``) included."""
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relaykafka", partitions=3)
    broker = _kafka_broker(ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap))
    await broker.start()
    try:
        publish = kafka_publisher(broker)
        events = [stored(i, i % 7) for i in range(1, 301)]
        results = [*await publish(topic, events[:250]), *await publish(topic, events[250:])]
        producer = connected_producer(broker)
        for event, result in zip(events, results, strict=True):
            assert isinstance(result, RecordMetadata), result
            key = event.branch_id.encode()
            assert result.partition == producer._partition(topic, None, None, None, key, None)
    finally:
        await broker.stop()
    records = await read_topic(bootstrap, topic, until=lambda got: len(got) >= len(events))
    at = {(r.partition, r.offset): r for r in records}
    for event, result in zip(events, results, strict=True):
        assert isinstance(result, RecordMetadata)
        record = at[result.partition, result.offset]
        assert record.value == event.json.encode()
        assert record.key == event.branch_id.encode()
        expected = [("content-type", b"application/json"), ("event-type", event.type.encode())]
        assert list(record.headers) == expected


async def test_every_event_fails_while_the_broker_is_not_connected(database_url: str, kafka: Any) -> None:
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers)
    results = await kafka_publisher(_kafka_broker(settings))("any.topic.v1", [stored(1, 1), stored(2, 2)])
    assert len(results) == 2 and all(isinstance(r, Exception) for r in results)
