"""Reading topics whole, outside any consumer group: from each partition's earliest retained
offset up to the end offsets read on entry (records appended meanwhile are left for the next read).

Used by the operator's dead-letter commands (``shared.cli._deadletters``) and by the Kafka-fed
read models' replays (``shared.readmodels.kafka_fed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

#: the broker sent nothing for this long: give up rather than wait for ever
IDLE_SECONDS = 30


async def records_to_end(
    consumer: AIOKafkaConsumer,
    topics: Sequence[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[ConsumerRecord]:  # type: ignore[type-arg]
    """Every record of ``topics`` now, oldest first per partition, through a started ``consumer``
    without a group whose metadata is loaded (``await consumer.topics()``); a topic the broker
    does not have gives nothing. ``progress(read, total)`` is called after each fetched batch.

    A partition is done once the consumer's position reached its end offset (also past
    transaction markers and compacted offsets). :class:`TimeoutError` when the broker sends
    nothing for :data:`IDLE_SECONDS`."""
    assignment = [
        TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    if not assignment:
        return
    consumer.assign(assignment)
    await consumer.seek_to_beginning(*assignment)
    ends = await consumer.end_offsets(assignment)
    starts = {tp: await consumer.position(tp) for tp in assignment}
    remaining = {tp for tp in assignment if starts[tp] < ends[tp]}
    total = sum(ends[tp] - starts[tp] for tp in remaining)
    read = 0
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    while remaining:
        if loop.time() - idle_since > IDLE_SECONDS:
            raise TimeoutError(f"the broker sent nothing for {IDLE_SECONDS} s ({read} read)")
        batch = await consumer.getmany(*remaining, timeout_ms=200)
        for tp, records in batch.items():
            idle_since = loop.time()
            for r in records:
                if r.offset >= ends[tp]:
                    break
                read += 1
                yield r
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        if progress is not None and batch:
            progress(read, total)
