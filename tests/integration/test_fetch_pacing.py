"""Idle consumers against the embedded broker (which holds a fetch for its whole max wait): they
stop fetching, wake at once when a relay announces their topic, and report their lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY as METRICS

from shared.eventstore import EventStore
from shared.fetch_pacing import FetchPacing
from shared.projection import ProjectionRunner
from shared.runner import _kafka_broker
from shared.settings import ServiceSettings
from shared.topic_wakeups import TopicWakeups, announce
from tests.integration.test_projection import FAST_GROUP_JOIN, Totals, has, producer, send, store, topic, wire
from tests.support.events import TEST_REGISTRY, make_envelope
from tests.support.services import wait_until

pytestmark = pytest.mark.integration
__all__ = ["store", "topic"]  # fixtures

#: long enough that only a wake-up explains a prompt delivery
IDLE_WAIT_MS = 3000


@asynccontextmanager
async def paced(
    projection: Totals, store: EventStore, bootstrap: str, database_url: str, *, announced: bool = False
) -> AsyncIterator[ProjectionRunner]:
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    wakeups = TopicWakeups(database_url, "test")
    wakeups.start()
    runner = ProjectionRunner(
        projection, service="paced", pool=store.pool, broker=broker, registry=TEST_REGISTRY, wakeups=wakeups
    )
    # announced: a long busy wait (held fetches of 2 s, pausing after 6 s without records), so that
    # only resting once caught up explains a pause within one held fetch
    busy = {"busy_wait_ms": 2000, "announced": True} if announced else {}
    pacing = FetchPacing(IDLE_WAIT_MS, broker_answers_early=False, **busy)  # type: ignore[arg-type]
    runner.subscribe(pacing=pacing, **FAST_GROUP_JOIN)
    await broker.start()
    try:
        yield runner
    finally:
        await broker.stop()
        await wakeups.close()


def _lag(group: str) -> float | None:
    total = None
    for metric in METRICS.collect():
        for sample in metric.samples:
            if sample.name == "branchcare_consumer_lag_records" and sample.labels.get("group") == group:
                total = (total or 0.0) + sample.value
    return total


async def test_an_idle_consumer_stops_fetching_and_wakes_when_its_topic_is_announced(
    store: EventStore, topic: str, kafka: Any, database_url: str
) -> None:
    bootstrap = kafka.bootstrap_servers
    async with paced(Totals(topic), store, bootstrap, database_url) as runner, producer(bootstrap) as p:
        await send(p, topic, wire(make_envelope("s1", 1, data={"n": 1})))
        await wait_until(lambda: has(store, "s1", 1), timeout=20)
        polling = runner.polling
        assert polling is not None
        await wait_until(lambda: _async(polling.idle), timeout=5)
        assert _lag(runner.group_id) == 0, "caught up: no records waiting"

        # idle: a record produced without an announcement waits for the idle wait ...
        await asyncio.sleep(0.5)
        await send(p, topic, wire(make_envelope("s1", 2, data={"n": 2})))
        started = time.monotonic()
        await wait_until(lambda: has(store, "s1", 2), timeout=10)
        assert time.monotonic() - started <= IDLE_WAIT_MS / 1000 + 1.5, "the idle wait bounds it"

        # ... an announced one comes at once
        await wait_until(lambda: _async(polling.idle), timeout=5)
        await asyncio.sleep(0.3)
        await send(p, topic, wire(make_envelope("s1", 3, data={"n": 3})))
        started = time.monotonic()
        conn = await asyncpg.connect(database_url)
        try:
            await announce(conn, topic)
        finally:
            await conn.close()
        await wait_until(lambda: has(store, "s1", 3), timeout=10)
        assert time.monotonic() - started < 1.0, "woken by the announcement, not the idle wait"


async def test_a_consumer_of_announced_topics_rests_as_soon_as_it_caught_up_and_wakes_for_each_batch(
    store: EventStore, topic: str, kafka: Any, database_url: str
) -> None:
    """HQ's consumer (the HQ feed's relay announces every batch): no fetching on after the records."""
    bootstrap = kafka.bootstrap_servers
    conn = await asyncpg.connect(database_url)
    try:
        async with (
            paced(Totals(topic), store, bootstrap, database_url, announced=True) as runner,
            producer(bootstrap) as p,
        ):
            polling = runner.polling
            assert polling is not None
            for n in range(1, 6):
                await send(p, topic, wire(make_envelope("s1", n, data={"n": n})))
                started = time.monotonic()
                await announce(conn, topic)
                await wait_until(lambda n=n: has(store, "s1", n), timeout=20)  # type: ignore[misc]
                # woken by the announcement, or the record came with a held fetch (2 s) after a
                # wake-up for records already taken (every watcher also gets one at start)
                assert n == 1 or time.monotonic() - started < 3.0
            # it paused as soon as it had taken each record, not after 6 s without records
            assert polling.rests >= 4, polling.rests
            # a record nobody announced still comes, within the idle wait
            await send(p, topic, wire(make_envelope("s1", 6, data={"n": 6})))
            started = time.monotonic()
            await wait_until(lambda: has(store, "s1", 6), timeout=10)
            assert time.monotonic() - started <= IDLE_WAIT_MS / 1000 + 1.5
    finally:
        await conn.close()


async def _async(value: bool) -> bool:
    return value
