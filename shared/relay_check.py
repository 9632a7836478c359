"""Asking the broker whether it still holds what it acknowledged to the relay.

The relay remembers, per partition, the offset and event id of the last record the broker
acknowledged (:data:`AckedTail`). The broker still holds everything up to there if and only if it
returns that very record at that offset: Kafka loses a log's tail (an unclean leader election) or
all of it (a topic deleted and re-created, a broker with memory storage restarted), never a
record in the middle, so the last record stands for all before it. Reading the record back is
used instead of comparing end offsets because the embedded Tansu broker answers
``ListOffsets(latest)`` with the base offset of the last produce batch plus one, not the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka_topics import ensure_topics, topic_partitions, topic_spec
from shared.topology import dlq_topic

log = logging.getLogger(__name__)

AckedTail = dict[int, tuple[int, str]]
"""partition → (offset, event id) of the last record the broker acknowledged there."""


#: an envelope whose first key is ``event_id``, as the store's JSON (``ENVELOPE_JSON``) and an
#: upcast envelope's (the model's first field) both begin: read without parsing the rest
_FIRST_EVENT_ID = re.compile(r'\{\s*"event_id"\s*:\s*"([0-9A-Za-z-]{1,64})"\s*,')


def event_id_of(value: bytes | str | None) -> str | None:
    """The ``event_id`` of an envelope as published, or None if it is not one."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if value and (found := _FIRST_EVENT_ID.match(value)) is not None:
        return found.group(1)
    try:
        data: Any = json.loads(value or b"")
        return str(data["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


class BrokerCheck:
    """Topic creation and read-back checks against the relay's topic."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        partitions: int | None = None,
        default_partitions: int | None = None,
        consumed: Sequence[str] = (),
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        #: the count to re-create the topic with: the one it had when first seen, else
        #: ``default_partitions`` (``KAFKA_TOPIC_PARTITIONS``), else ``deploy/kafka/topics.md``'s
        self.partitions = partitions
        self.default_partitions = default_partitions
        #: the topics the service's consumers read: re-created too when missing, so a consumer
        #: never waits for a producer that is down (a consumer cannot start on a missing topic)
        self.consumed = [t for t in dict.fromkeys(consumed) if t != topic]
        #: one admin client for the metadata requests of every check (each request is sent afresh;
        #: a new client per check fetched the whole cluster's metadata to start), dropped when a
        #: request through it fails, so the next check starts from a new connection
        self._admin: AIOKafkaAdminClient | None = None

    async def ensure(self) -> int:
        """Create the topic, the topics the service consumes, and their ``.dlq`` topics, where
        missing; returns the topic's partition count."""
        specs = [topic_spec(self.topic, self.partitions or self.default_partitions)]
        specs += [topic_spec(t, self.default_partitions) for t in self.consumed]
        specs += [topic_spec(dlq_topic(t)) for t in (self.topic, *self.consumed)]
        async with self._admin_client() as admin:
            counts = await ensure_topics(self.bootstrap_servers, specs, admin=admin)
        self.partitions = counts[self.topic]
        return self.partitions

    async def answers(self, timeout: float = 3.0) -> bool:
        """Whether the broker answers a metadata request now. Asked before a batch is sent again
        after a failure: a frozen broker still accepts bytes into its socket and later stores
        every produce request queued there, so each blind retry would become a batch of
        duplicates."""
        try:
            await asyncio.wait_for(self._partitions(), timeout)
        except Exception:
            return False
        return True

    async def exists(self) -> bool:
        return bool(await self._partitions())

    async def holds(self, acked: AckedTail, timeout: float = 5.0, *, partitions: int | None = None) -> bool:
        """Whether the broker still returns every record of ``acked`` at its offset.

        ``partitions``: the topic's partition count as the broker just gave it (:meth:`ensure`),
        else asked for here. Raises (a Kafka error, ``TimeoutError``) when the broker does not
        answer at all: that is no evidence of loss, the caller asks again later.
        """
        if not acked:
            return True
        held = set(range(partitions)) if partitions is not None else await self._partitions()
        if not held or any(p not in held for p in acked):
            return False
        consumer = self._consumer()
        await consumer.start()
        try:
            wanted = {TopicPartition(self.topic, p): ref for p, ref in acked.items()}
            consumer.assign(list(wanted))
            ends = await consumer.end_offsets(list(wanted))
            if any(ends.get(tp, 0) == 0 for tp in wanted):  # an empty partition holds nothing
                return self._lost(wanted, ends)
            for tp, (offset, _) in wanted.items():
                consumer.seek(tp, offset)
            found: dict[TopicPartition, tuple[int, str | None]] = {}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(found) < len(wanted) and loop.time() < deadline:
                batches = await consumer.getmany(*[tp for tp in wanted if tp not in found], timeout_ms=200)
                for tp, records in batches.items():
                    if records and tp not in found:
                        found[tp] = (records[0].offset, event_id_of(records[0].value))
                        if found[tp] != wanted[tp]:
                            return self._lost(wanted, found)
            if any(found.get(tp) != ref for tp, ref in wanted.items()):
                return self._lost(wanted, found)
            return True
        finally:
            await consumer.stop()

    def _lost(self, wanted: dict[TopicPartition, tuple[int, str]], found: dict[Any, Any]) -> bool:
        log.warning(
            "relay %s: the broker no longer holds what it acknowledged (expected %s, found %s)",
            self.topic,
            {tp.partition: ref[0] for tp, ref in wanted.items()},
            {tp.partition: v for tp, v in found.items()},
        )
        return False

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # an offset the broker lost: it answers from the start
            fetch_max_wait_ms=100,
            request_timeout_ms=10_000,
        )

    async def _partitions(self) -> set[int]:
        """The topic's partitions, from a fresh metadata request (which never creates it)."""
        async with self._admin_client() as admin:
            return set(range((await topic_partitions(admin, [self.topic])).get(self.topic, 0)))

    @asynccontextmanager
    async def _admin_client(self) -> AsyncIterator[AIOKafkaAdminClient]:
        """The kept admin client (started if need be); closed and forgotten when what is done
        with it fails (or is cancelled)."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=10_000)
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        admin = self._admin
        try:
            yield admin
        except BaseException:
            self._admin = None
            with suppress(Exception):
                await admin.close()
            raise

    async def close(self) -> None:
        """Close the kept admin client (the relay stops)."""
        admin, self._admin = self._admin, None
        if admin is not None:
            with suppress(Exception):
                await admin.close()
