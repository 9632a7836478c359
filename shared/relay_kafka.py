"""The outbox relay's producer side: a batch of stored events into Kafka, one record batch per partition.

The relay hands over up to ``relay_batch_size`` events at once and waits for all of them, so the
per-message machinery of a general producer is pure cost here. FastStream's ``broker.publish``
builds a command object, runs the middleware chain, encodes through its codec and draws a random
``correlation_id`` header per message; aiokafka's ``send`` then finds the partition (a pure Python
murmur2), wraps every record in a future, and holds each partition's batch for ``linger_ms``
from its first record, so that one relay batch often left in two produce requests (the partitions
whose linger ran out first, then the others).

Here the events go straight into aiokafka record batches built by the relay (``create_batch`` /
``send_batch`` on the producer FastStream connected): the partition of a key is computed once per
branch (aiokafka's own ``DefaultPartitioner``, so a branch keeps its partition), the headers once
per event type, and every batch is closed before it is handed over, so that all partitions leave
together in one produce request, without a linger: the relay itself batches
(:data:`shared.relay.ROUND_SECONDS`). Per event the relay still gets a ``RecordMetadata`` (the
batch's base offset plus the record's place in it) or the exception that failed its batch, so it
keeps the acknowledged prefix exactly as before.

Records carry what the event catalogue documents (``shared.catalogue``): ``content-type``,
``event-type`` and, when tracing is on, ``traceparent`` (:func:`shared.tracing.producer_headers`);
the key is the branch id, the value the stored envelope JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from itertools import zip_longest

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker

from shared import tracing
from shared.eventstore import StoredEvent

Header = tuple[str, bytes]


def connected_producer(broker: KafkaBroker) -> AIOKafkaProducer:
    """The aiokafka producer FastStream started for ``broker`` (its settings: acks, timeouts,
    batch size); raises FastStream's ``IncorrectState`` while the broker is not connected."""
    state = broker.config.producer._producer  # type: ignore[attr-defined]  # FastStream 0.6/0.7
    producer: AIOKafkaProducer = state.producer
    return producer


class Partitions:
    """Each key's partition on a topic, as aiokafka's default partitioner chooses it (murmur2 of
    the key over the sorted partition ids), remembered per key while the partition count holds."""

    def __init__(self) -> None:
        self._partitioner = DefaultPartitioner()
        self._known: dict[tuple[str, bytes], int] = {}
        self._counts: dict[str, int] = {}

    async def of(self, producer: AIOKafkaProducer, topic: str) -> Callable[[bytes], int]:
        """A key → partition function for ``topic`` (waits for its metadata, as ``send`` does)."""
        ids = sorted(await producer.partitions_for(topic))
        if self._counts.get(topic) != len(ids):
            self._counts[topic] = len(ids)
            self._known = {k: p for k, p in self._known.items() if k[0] != topic}
        known, choose = self._known, self._partitioner

        def partition(key: bytes) -> int:
            found = known.get((topic, key))
            if found is None:
                found = known[topic, key] = choose(key, ids, ids)
            return found

        return partition


class Headers:
    """The record headers of an event: ``content-type`` and ``event-type``, built once per type;
    ``traceparent`` (a PRODUCER span in the event's trace) per event when tracing is on."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[Header]] = {}

    def of(self, topic: str, event: StoredEvent) -> list[Header]:
        fixed = self._by_type.get(event.type)
        if fixed is None:
            fixed = self._by_type[event.type] = [
                ("content-type", b"application/json"),
                ("event-type", event.type.encode()),
            ]
        traced = tracing.producer_headers(topic, event.traceparent, event.type)
        if not traced:
            return fixed  # shared by every record of the type: aiokafka copies it into the batch
        return [*fixed, *((name, value.encode()) for name, value in traced.items())]


#: a closed record batch for one partition and the indexes (in the relay's batch) of its events
Chunk = tuple[int, BatchBuilder, list[int]]


def kafka_publisher(broker: KafkaBroker) -> Callable[[str, Sequence[StoredEvent]], Awaitable[list[object]]]:
    """Publish stored events keyed by branch and wait until Kafka acknowledged all of them."""
    partitions = Partitions()
    headers = Headers()

    async def publish(topic: str, events: Sequence[StoredEvent]) -> list[object]:
        """Per event: its RecordMetadata or the exception that failed it (the relay keeps the
        acknowledged prefix)."""
        results: list[object] = [None] * len(events)
        try:
            producer = connected_producer(broker)
            partition_of = await partitions.of(producer, topic)
        except Exception as exc:  # not connected, the topic is missing: every event fails
            return [exc] * len(events)
        chunks = _chunks(producer, topic, events, partition_of, headers)
        sent: list[tuple[asyncio.Future[RecordMetadata], Chunk]] = []
        failure: Exception | None = None
        # the first batch of every partition, then the second...: a partition's next batch waits
        # until the producer took the one before (its order on the wire is the store's)
        for chunk in (c for wave in zip_longest(*chunks.values()) for c in wave if c is not None):
            partition, builder, indexes = chunk
            if failure is None:
                try:
                    sent.append((await producer.send_batch(builder, topic, partition=partition), chunk))
                    continue
                except Exception as exc:  # e.g. the producer closed: this one and all after it fail
                    failure = exc
            for i in indexes:
                results[i] = failure
        for future, (_, _, indexes) in sent:
            try:
                acked = await future
            except Exception as exc:
                for i in indexes:
                    results[i] = exc
                continue
            topic_, partition, tp, base, stamp, stamp_type, start = acked
            for j, i in enumerate(indexes):  # the batch's base offset plus the record's place in it
                results[i] = RecordMetadata(topic_, partition, tp, base + j, stamp, stamp_type, start)
        return results

    return publish


def _chunks(
    producer: AIOKafkaProducer,
    topic: str,
    events: Sequence[StoredEvent],
    partition_of: Callable[[bytes], int],
    headers: Headers,
) -> dict[int, list[Chunk]]:
    """The events in closed record batches, per partition in store order (a batch holds what
    fits the producer's ``max_batch_size``; the first record always fits)."""
    chunks: dict[int, list[Chunk]] = {}
    for i, event in enumerate(events):
        key, value = event.branch_id.encode(), event.json.encode()
        record_headers = headers.of(topic, event)
        partition = partition_of(key)
        chain = chunks.setdefault(partition, [])
        if chain and _append(chain[-1][1], key, value, record_headers):
            chain[-1][2].append(i)
            continue
        builder = producer.create_batch()  # the partition's first batch, or its last one is full
        _append(builder, key, value, record_headers)
        chain.append((partition, builder, [i]))
    for chain in chunks.values():
        for _, builder, _ in chain:
            builder.close()  # sent at once: a closed batch does not linger
    return chunks


def _append(builder: BatchBuilder, key: bytes, value: bytes, headers: list[Header]) -> bool:
    """Whether the record went into ``builder`` (stamped now, as ``send`` stamps it); a full
    builder refuses it and closes."""
    return builder.append(timestamp=None, key=key, value=value, headers=headers) is not None
