"""The relay's rounds under a steady load: the checkpoint rides on the next read, announcements
only where a consumer may have gone idle; nothing is left unrecorded once the relay is idle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import asyncpg
import pytest

from shared import relay as relay_module
from shared.eventstore import EventStore
from shared.topic_wakeups import TopicWakeups, channel_of
from tests.integration.test_relay import caught_up, checkpoint, log_end, running_relay
from tests.support.events import make_envelopes, migrated_store
from tests.support.kafka import new_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

SCHEMA = "es_rounds"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, SCHEMA) as store:
        yield store


def is_read(sql: str) -> bool:
    return "FROM events" in sql and "LIMIT" in sql


def is_checkpoint_alone(sql: str) -> bool:
    return "relay_checkpoint" in sql and "FROM events" not in sql


async def test_a_steady_load_writes_the_checkpoint_with_the_next_read_and_announces_once(
    store: EventStore, database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends every 10 ms, rounds every 100 ms (the relay never waits idle between them), no
    partition goes quiet (``QUIET_SECONDS`` raised), no marks: the first batch's checkpoint is
    written and announced at once, every later one goes with the next read, unannounced; once
    the relay is idle the checkpoint is at the end of the log. A batch after a quiet spell is
    announced again."""
    monkeypatch.setattr(relay_module, "QUIET_SECONDS", 3600.0)
    monkeypatch.setattr(relay_module, "MARK_SECONDS", 3600.0)
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-rounds", partitions=1)
    announced: list[str] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(channel_of(topic), lambda *a: announced.append(a[3]))
    statements: list[str] = []
    try:
        relay = running_relay(store, database_url, bootstrap, topic, check=False, schema=SCHEMA)
        async with relay as running:
            await wait_until(lambda: running.relay.is_leader, timeout=10)
            running.relay.round_seconds = 0.1
            running.lock_connection.add_query_logger(lambda q: statements.append(q.query))
            for i in range(40):  # about 4 rounds of ten events
                await store.append(f"case-{i}", 0, make_envelopes(f"case-{i}", 0, 1))
                await asyncio.sleep(0.01)
            await wait_until(partial(caught_up, store, topic), timeout=20)
            assert await checkpoint(store, topic) == await log_end(store)
            reads = [q for q in statements if is_read(q)]
            alone = [q for q in statements if is_checkpoint_alone(q)]
            with_read = [q for q in reads if "relay_checkpoint" in q]
            assert len(reads) >= 3, statements
            assert len(alone) == 1, alone  # the first batch's: it came after an idle wait
            assert with_read, "later checkpoints go with the next read"
            assert announced.count(topic) == 1, announced

            monkeypatch.setattr(relay_module, "QUIET_SECONDS", 0.05)
            await asyncio.sleep(0.1)  # the partition goes quiet
            await store.append("case-late", 0, make_envelopes("case-late", 0, 1))
            await wait_until(lambda: announced.count(topic) == 2, timeout=10)
            await wait_until(partial(caught_up, store, topic), timeout=10)
    finally:
        await listener.close()


async def test_a_relay_is_woken_through_the_process_listener_by_another_replicas_append(
    store: EventStore, database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the process's listening connection (``listener``) the relay does not LISTEN on its
    own: an append by another replica (its NOTIFY, no local poke) still wakes it at once, not
    after the safety timer; without it, the relay's own connection listens."""
    monkeypatch.setattr(relay_module, "SAFETY_WAKE_SECONDS", 30.0)
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-listener", partitions=1)
    wakeups = TopicWakeups(database_url, "relay-test")
    wakeups.start()
    try:
        relay = running_relay(
            store, database_url, bootstrap, topic, check=False, schema=SCHEMA, listener=wakeups
        )
        async with relay as running, migrated_store(database_url, SCHEMA) as other:
            await wait_until(lambda: running.relay.is_leader, timeout=10)
            await wait_until(partial(caught_up, store, topic), timeout=10)
            await asyncio.sleep(0.5)  # the relay waits for a wake-up
            for i in range(3):
                started = time.monotonic()
                await other.append(f"other-{i}", 0, make_envelopes(f"other-{i}", 0, 1))
                await wait_until(partial(caught_up, store, topic), timeout=20)
                assert time.monotonic() - started < 10, "woken by the NOTIFY, not the safety timer"
                await asyncio.sleep(0.2)
            listening = await other.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relay-test-listen'"
            )
            assert listening == 1
    finally:
        await wakeups.close()
