"""After a broker restarted empty, a projection's consumer gets every partition of its topics
again once they are re-created — even with another partition count — and consumes them, with
nobody intervening (real Tansu broker, real PostgreSQL).

The embedded broker answers a member that rejoins under the same member id with the assignment
it got first (its generation never advances), so a consumer that joined while its topic was
missing would otherwise keep no partitions for good (issue 14c)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from shared.devstack import TansuBroker, create_topics
from shared.eventstore import EventStore
from shared.kafka_link import KafkaLink
from shared.projection import ProjectionRunner
from shared.runner import _kafka_broker
from shared.settings import ServiceSettings
from tests.integration.test_projection import FAST_GROUP_JOIN, Totals, has, producer, store, wire  # noqa: F401
from tests.support.events import TEST_REGISTRY, make_envelope
from tests.support.kafka import new_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


@asynccontextmanager
async def linked(projection: Totals, store: EventStore, bootstrap: str) -> AsyncIterator[KafkaLink]:  # noqa: F811
    """The projection subscribed and joined in the background, exactly as a service does it."""
    settings = ServiceSettings(database_url="postgresql://unused", kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    runner = ProjectionRunner(
        projection, service="test", pool=store.pool, broker=broker, registry=TEST_REGISTRY
    )
    runner.subscribe(fetch_max_wait_ms=10, **FAST_GROUP_JOIN)
    link = KafkaLink(broker, "test")
    link.start()
    try:
        yield link
    finally:
        await link.stop()
        await broker.stop()


async def test_after_an_empty_restart_the_recreated_topic_is_read_in_every_partition(
    store: EventStore,  # noqa: F811
    private_broker: TansuBroker,
) -> None:
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "rejoin", partitions=3)
    projection = Totals(topic)
    async with linked(projection, store, bootstrap) as link:
        async with producer(bootstrap) as p:
            for partition in range(3):
                await p.send_and_wait(
                    topic, wire(make_envelope(f"before-{partition}", 1, data={"n": 1})), partition=partition
                )
        for partition in range(3):
            await wait_until(lambda s=f"before-{partition}": has(store, s, 1), timeout=30)  # type: ignore[misc]

        private_broker.restart()  # memory storage: the topic, the group and its offsets are gone
        # the consumer learns that its member id is unknown and that its topic is missing (its
        # metadata is refreshed every 5 s) and rejoins meanwhile
        await asyncio.sleep(8)
        await create_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=6)  # as the relay would
        async with producer(bootstrap) as p:

            async def six_partitions() -> bool:
                return len(await p.partitions_for(topic)) == 6

            await wait_until(six_partitions, timeout=15)
            for partition in range(6):
                value = wire(make_envelope(f"after-{partition}", 1, data={"n": 1}))
                await p.send_and_wait(topic, value, partition=partition)

        async def all_consumed() -> bool:
            return all([await has(store, f"after-{partition}", 1) for partition in range(6)])

        await wait_until(
            all_consumed, timeout=60, message="the re-created topic was not consumed in every partition"
        )
        assert list(link.consumers.values()) == ["ok"], "/ready shows the consumer running again"
