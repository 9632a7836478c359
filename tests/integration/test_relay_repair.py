"""The topic is a repairable copy of the store: a broker that lost acknowledged events gets them
again from the store, with no operator (real PostgreSQL, real Tansu broker over TCP)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared import relay as relay_module
from shared.devstack import TansuBroker
from shared.eventstore import EventStore
from shared.kafka_topics import topic_partitions
from shared.metrics import RELAY_BROKER_LOSSES
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
