"""No read model commits past an event it did not apply: gaps are held, loud, and close by
themselves (real broker, real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from shared import projection_gaps
from shared.devstack import TansuBroker
from shared.eventstore import EventStore
from tests.integration.test_projection import Totals, has, model, producer, running, send, wire
from tests.integration.test_projection_rejoin import linked
from tests.integration.test_relay import all_event_ids, caught_up, running_relay
from tests.support.events import make_envelope, make_envelopes, migrated_store
from tests.support.kafka import new_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, "proj") as store:
        async with store.pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE totals (stream_id text PRIMARY KEY, events int NOT NULL, total int NOT NULL)"
            )
        yield store


@pytest.fixture(autouse=True)
def quick_rewinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projection_gaps, "FIRST_REWIND_SECONDS", 0.3)
    monkeypatch.setattr(projection_gaps, "MAX_REWIND_SECONDS", 1.0)


def gap_seconds(projection: Totals) -> float:
    value = REGISTRY.get_sample_value(
        "branchcare_projection_gap_seconds", {"service": "test", "projection": projection.name}
    )
    return value or 0.0


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The group's committed offset of partition 0 (asked without joining the group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def test_a_gap_is_held_loudly_and_closes_when_the_event_comes(store: EventStore, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "gap", partitions=1)
    projection = Totals(topic)
    async with running(projection, store, bootstrap) as runner, producer(bootstrap) as p:
        await send(p, topic, wire(make_envelope("s1", 1, data={"n": 1})))  # offset 0
        await wait_until(lambda: has(store, "s1", 1), timeout=15)
        # v2 is missing: v3 at offset 1 is a gap; another stream's event behind it still applies
        await send(
            p, topic, wire(make_envelope("s1", 3, data={"n": 3})), wire(make_envelope("s2", 1, data={"n": 7}))
        )
        await wait_until(lambda: has(store, "s2", 1), timeout=15)
        await asyncio.sleep(2.5)  # several rewinds and re-reads
        assert await model(store) == {"s1": (1, 1), "s2": (1, 7)}
        assert await committed(bootstrap, runner.group_id, topic) == 1, "never committed past the gap"
        first = gap_seconds(projection)
        await asyncio.sleep(0.5)
        assert gap_seconds(projection) > first >= 2.0, "the gap gauge rises while the gap lasts"

        await send(p, topic, wire(make_envelope("s1", 2, data={"n": 2})))  # republished, offset 3
        await wait_until(lambda: has(store, "s1", 3), timeout=15, message="the held event never applied")
        assert await model(store) == {"s1": (3, 6), "s2": (1, 7)}

        async def moved_on() -> bool:
            return await committed(bootstrap, runner.group_id, topic) == 4 and gap_seconds(projection) == 0

        await wait_until(moved_on, timeout=15, message="the offset did not move on after the gap closed")


async def test_a_consumer_restarted_during_a_gap_reads_it_again(store: EventStore, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "gap-restart", partitions=1)
    projection = Totals(topic)
    async with producer(bootstrap) as p:
        async with running(projection, store, bootstrap) as runner:
            await send(p, topic, *(wire(make_envelope("s1", v, data={"n": v})) for v in (1, 3)))
            await wait_until(lambda: has(store, "s1", 1), timeout=15)
            await asyncio.sleep(1.0)
            assert await committed(bootstrap, runner.group_id, topic) == 1
        await send(p, topic, wire(make_envelope("s1", 2, data={"n": 2})))
        async with running(projection, store, bootstrap):  # same group: starts at the gap
            await wait_until(lambda: has(store, "s1", 3), timeout=20)
    assert await model(store) == {"s1": (3, 6)}


async def test_broker_restarted_empty_every_event_reaches_the_read_model_again(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    """Relay and projection together: the broker loses everything; nobody intervenes."""
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "gap-empty", partitions=3)
    projection = Totals(topic)
    versions = {f"case-{i}": 0 for i in range(24)}

    async def append_round() -> None:
        for i, (stream, version) in enumerate(versions.items()):
            events = make_envelopes(stream, version, 1, branch_id=f"b{i % 5}", data={"n": 1})
            await store.append(stream, version, events)
            versions[stream] = version + 1

    async def complete() -> bool:
        return {s: c for s, (c, _) in (await model(store)).items()} == versions

    async with (
        running_relay(store, database_url, bootstrap, topic, schema="proj"),
        linked(projection, store, bootstrap),  # as a service: a stale assignment restarts the consumer
    ):
        for _ in range(3):
            await append_round()
        await wait_until(complete, timeout=30, message="the read model never caught up")

        private_broker.restart()  # memory storage: topics, records and committed offsets are gone
        for _ in range(3):
            await append_round()
            await asyncio.sleep(0.3)
        await wait_until(lambda: caught_up(store, topic), timeout=60, message="relay did not recover")
        await wait_until(complete, timeout=90, message="acknowledged events never reached the read model")
    assert len(await all_event_ids(store)) == 24 * 6
