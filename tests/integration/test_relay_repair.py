"""The topic is a repairable copy of the store: a broker that lost acknowledged events gets them
again from the store, with no operator (real PostgreSQL, real Tansu broker over TCP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from shared import relay as relay_module
from shared.devstack import TansuBroker
from shared.eventstore import EventStore
from shared.kafka_topics import topic_partitions
from shared.metrics import RELAY_BROKER_LOSSES, RELAY_ERRORS
from shared.relay import OutboxRelay
from shared.relay_check import BrokerCheck
from shared.runner import kafka_publisher
from tests.integration.test_relay import all_event_ids, caught_up, running_relay
from tests.support.events import make_envelopes, migrated_store
from tests.support.kafka import distinct_event_ids, envelopes, new_topic, read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, "es") as store:
        yield store


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "VERIFY_SECONDS", 1.0)
    monkeypatch.setattr(relay_module, "MARK_SECONDS", 0.2)


class Streams:
    def __init__(self, store: EventStore, count: int) -> None:
        self.store = store
        self.versions = {f"case-{i}": 0 for i in range(count)}

    async def append_round(self) -> None:
        for i, (stream, version) in enumerate(self.versions.items()):
            await self.store.append(
                stream, version, make_envelopes(stream, version, 1, branch_id=f"b{i % 7}")
            )
            self.versions[stream] = version + 1


def losses() -> float:
    return RELAY_BROKER_LOSSES.labels("test")._value.get()


async def partitions_of(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return (await topic_partitions(admin, [topic])).get(topic, 0)
    finally:
        await admin.close()


async def everything_on_the_topic(store: EventStore, bootstrap: str, topic: str, streams: Streams) -> None:
    expected = await all_event_ids(store)
    records = await read_topic(
        bootstrap, topic, until=lambda rs: distinct_event_ids(rs) >= expected, timeout=60
    )
    assert distinct_event_ids(records) == expected, "every stored event is on the topic again"
    # what a consumer sees, applying only each stream's next version, ends complete
    last: dict[str, int] = {}
    for env in envelopes(records):  # per partition in offset order, as a consumer reads them
        if env.stream_version == last.get(env.stream_id, 0) + 1:
            last[env.stream_id] = env.stream_version
    assert last == streams.versions


async def test_broker_restarted_empty_gets_every_acknowledged_event_again(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "repair-empty")
    streams = Streams(store, 30)
    before = losses()
    async with running_relay(store, database_url, bootstrap, topic) as running:
        for _ in range(3):
            await streams.append_round()
        await wait_until(lambda: caught_up(store, topic), timeout=20, message="relay never caught up")

        private_broker.restart()  # memory storage: every topic and record is gone
        for _ in range(2):  # commands go on; the relay publishes into a broker that lost the rest
            await streams.append_round()

        await wait_until(lambda: caught_up(store, topic), timeout=40, message="relay did not recover")
        await wait_until(lambda: losses() > before, timeout=30, message="the loss was never noticed")
        await everything_on_the_topic(store, bootstrap, topic, streams)
        assert running.relay.is_leader
    assert await partitions_of(bootstrap, topic) == 3, "re-created with the partition count it had"
    async with store.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT last_loss_at, republished_events FROM relay_checkpoint")
    assert row["last_loss_at"] is not None and row["republished_events"] >= 90


async def test_an_idle_relay_notices_the_loss_by_itself(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "repair-idle")
    streams = Streams(store, 20)
    before = losses()
    async with running_relay(store, database_url, bootstrap, topic):
        for _ in range(2):
            await streams.append_round()
        await wait_until(lambda: caught_up(store, topic), timeout=20)
        private_broker.restart()  # nothing is appended afterwards: only the periodic check can see it
        await wait_until(lambda: losses() > before, timeout=30, message="the loss was never noticed")
        await everything_on_the_topic(store, bootstrap, topic, streams)


async def test_a_produce_to_a_deleted_topic_is_not_taken_as_stored(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "repair-deleted")
    streams = Streams(store, 20)
    before = losses()
    async with running_relay(store, database_url, bootstrap, topic):
        await streams.append_round()
        await wait_until(lambda: caught_up(store, topic), timeout=20)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        await streams.append_round()  # the broker acknowledges these into a topic that is gone
        await wait_until(lambda: losses() > before, timeout=30, message="the deletion was never noticed")
        await wait_until(lambda: caught_up(store, topic), timeout=30)
        await everything_on_the_topic(store, bootstrap, topic, streams)
    assert await partitions_of(bootstrap, topic) == 3


async def test_an_outage_costs_at_most_one_batch_of_duplicates(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    """The broker freezes while batches are in flight; the relay keeps the acknowledged prefix and
    only sends again once the broker answers, so the frozen broker stores at most one batch twice."""
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "dups")
    batch_size = 100
    broker = KafkaBroker(
        bootstrap, acks="all", enable_idempotence=False, linger_ms=2, request_timeout_ms=2_000
    )
    await broker.start()
    to_kafka = kafka_publisher(broker)

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(database_url, server_settings={"search_path": "es"})

    relay = OutboxRelay(
        store, connect, to_kafka, topic=topic, service="dups", batch_size=batch_size,
        check=BrokerCheck(bootstrap, topic, partitions=3),
    )  # fmt: skip
    task = asyncio.create_task(relay.run())
    streams = Streams(store, 40)
    errors_before = RELAY_ERRORS.labels("dups")._value.get()

    async def keep_appending(rounds: int) -> None:
        for _ in range(rounds):
            await streams.append_round()
            await asyncio.sleep(0.05)

    try:
        appending = asyncio.create_task(keep_appending(60))
        await asyncio.sleep(1.0)
        private_broker.pause()
        await asyncio.sleep(6.0)  # three request timeouts: several retries would have been queued
        private_broker.resume()
        await appending
        await wait_until(lambda: caught_up(store, topic), timeout=60, message="relay did not recover")
    finally:
        private_broker.resume() if private_broker.running else None
        await relay.stop(task)
        await broker.stop()
    assert RELAY_ERRORS.labels("dups")._value.get() > errors_before, "the outage was felt"
    expected = await all_event_ids(store)
    records = await read_topic(bootstrap, topic, until=lambda rs: distinct_event_ids(rs) >= expected)
    duplicates = len(records) - len(distinct_event_ids(records))
    print(f"{len(expected)} events, {duplicates} duplicate message(s) after the outage")
    assert duplicates <= batch_size
