"""The outbox relay against real PostgreSQL and a real broker: outages, crashes, leadership, wake-up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import pytest

from shared import relay as relay_module
from shared.devstack import TansuBroker, die_with_parent
from shared.eventstore import LOG_START, EventStore, LogPosition, StoredEvent
from shared.relay import OutboxRelay
from shared.relay_check import BrokerCheck
from shared.runner import _kafka_broker, kafka_publisher
from shared.settings import ServiceSettings
from shared.topic_wakeups import TopicWakeups
from tests.support.events import make_envelopes, migrated_store
from tests.support.kafka import check_stream_order, distinct_event_ids, envelopes, new_topic, read_topic
from tests.support.services import REPO_ROOT, wait_until

pytestmark = pytest.mark.integration

SCHEMA = "es"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, SCHEMA) as store:
        yield store


@dataclass
class RunningRelay:
    relay: OutboxRelay
    task: asyncio.Task[None]
    connections: list[asyncpg.Connection] = field(default_factory=list)
    published: list[int] = field(default_factory=list)  # positions this relay got acknowledged

    @property
    def lock_connection(self) -> asyncpg.Connection:
        return self.connections[-1]


@asynccontextmanager
async def running_relay(
    store: EventStore,
    database_url: str,
    bootstrap_servers: str,
    topic: str,
    *,
    batch_size: int = 200,
    check: bool = True,
    schema: str = SCHEMA,
    listener: TopicWakeups | None = None,
) -> AsyncIterator[RunningRelay]:
    """An OutboxRelay publishing through a service's own Kafka producer set-up."""
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap_servers)
    broker = _kafka_broker(settings)
    await broker.start()
    to_kafka = kafka_publisher(broker)
    holder: list[RunningRelay] = []

    async def publish(to: str, events: Sequence[StoredEvent]) -> list[object]:
        results = await to_kafka(to, events)
        holder[0].published.extend(
            e.position for e, r in zip(events, results, strict=True) if not isinstance(r, BaseException)
        )
        return results

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
        holder[0].connections.append(conn)
        return conn

    relay = OutboxRelay(
        store,
        connect,
        publish,
        topic=topic,
        service="test",
        batch_size=batch_size,
        check=BrokerCheck(bootstrap_servers, topic, partitions=3) if check else None,
        listener=listener,
    )
    running = RunningRelay(relay, asyncio.create_task(relay.run()))
    holder.append(running)
    try:
        yield running
    finally:
        await relay.stop(running.task, timeout=10)
        await broker.stop()


async def checkpoint(store: EventStore, topic: str) -> LogPosition:
    async with store.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT tx_id, position FROM relay_checkpoint WHERE topic = $1", topic)
    return LOG_START if row is None else LogPosition(int(row["tx_id"]), int(row["position"]))


async def log_end(store: EventStore) -> LogPosition:
    async with store.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1"
        )
    return LOG_START if row is None else LogPosition(int(row["tx_id"]), int(row["position"]))


async def waiting_in_outbox(store: EventStore, topic: str) -> int:
    cp = await checkpoint(store, topic)
    async with store.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint)",
            cp.tx_id,
            cp.position,
        )
    return count


async def all_event_ids(store: EventStore) -> set[str]:
    async with store.pool.acquire() as conn:
        return {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM events")}


async def caught_up(store: EventStore, topic: str) -> bool:
    return await checkpoint(store, topic) >= await log_end(store)


# ------------------------------------------------------------------------------ broker outage


async def test_broker_paused_events_wait_then_all_go_out_in_order(
    store: EventStore, database_url: str, private_broker: TansuBroker
) -> None:
    bootstrap = private_broker.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-outage")
    streams = [f"case-{i}" for i in range(12)]
    versions = dict.fromkeys(streams, 0)

    async def command(i: int) -> None:
        stream = streams[i % len(streams)]
        count = 1 + i % 3
        await store.append(
            stream,
            versions[stream],
            make_envelopes(stream, versions[stream], count, branch_id=f"b{i % len(streams) % 5}"),
        )
        versions[stream] += count

    async with running_relay(store, database_url, bootstrap, topic) as running:
        for i in range(30):
            await command(i)
        await wait_until(lambda: caught_up(store, topic), timeout=15, message="relay never caught up")

        private_broker.pause()
        try:
            paused_at = await checkpoint(store, topic)
            for i in range(30, 150):  # commands keep succeeding while Kafka is frozen
                await command(i)
            await asyncio.sleep(0.5)  # give a (wrong) relay the chance to move its checkpoint
            assert await checkpoint(store, topic) == paused_at, "progress recorded without a broker ack"
            backlog = await waiting_in_outbox(store, topic)
            assert backlog > 0
            for i in range(150, 200):
                await command(i)
            assert await waiting_in_outbox(store, topic) > backlog, (
                "the backlog should grow during the outage"
            )
        finally:
            private_broker.resume()

        await wait_until(lambda: caught_up(store, topic), timeout=40, message="relay did not recover")
        assert running.relay.is_leader

    expected = await all_event_ids(store)
    records = await read_topic(bootstrap, topic, until=lambda rs: distinct_event_ids(rs) >= expected)
    order = check_stream_order(records)
    assert order.last == versions, "every stream arrived complete"
    assert all(r.key == env.branch_id.encode() for r, env in zip(records, envelopes(records), strict=True))


# ----------------------------------------------------------------------------- relay crashes


async def test_relay_killed_mid_batch_loses_nothing(store: EventStore, database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-crash")
    for s in range(300):
        await store.append(f"case-{s}", 0, make_envelopes(f"case-{s}", 0, 10, branch_id=f"b{s % 7}"))
    expected = await all_event_ids(store)
    assert len(expected) == 3000

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "RELAY_SCHEMA": SCHEMA,
        "RELAY_TOPIC": topic,
        "RELAY_BATCH_SIZE": "200",
    }
    first = await spawn_relay({**env, "RELAY_PAUSE_MID_BATCH": "0.3"})
    try:
        await expect_line(first, "leading")
        for _ in range(3):
            await expect_line(first, "mid-batch")
        first.send_signal(signal.SIGKILL)  # half of batch 3 is on the wire, its checkpoint is not
        await first.wait()
    finally:
        with suppress(ProcessLookupError):
            first.kill()
    killed_at = await checkpoint(store, topic)
    assert LOG_START < killed_at < await log_end(store), "killed mid-way"

    second = await spawn_relay(env)
    try:
        await expect_line(second, "leading")
        await wait_until(
            lambda: caught_up(store, topic), timeout=30, message="restarted relay did not finish"
        )
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 15) == 0
    finally:
        with suppress(ProcessLookupError):
            second.kill()

    records = await read_topic(bootstrap, topic, until=lambda rs: distinct_event_ids(rs) >= expected)
    order = check_stream_order(records)
    assert len(order.last) == 300 and set(order.last.values()) == {10}
    assert distinct_event_ids(records) == expected, "no event lost"
    assert 0 < order.duplicates <= 200, "only the unacknowledged tail (at most one batch) is republished"


async def spawn_relay(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.relay_process",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )


async def expect_line(proc: asyncio.subprocess.Process, prefix: str, timeout: float = 20) -> str:
    assert proc.stdout is not None
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"relay never printed {prefix!r}; it printed:\n" + "\n".join(seen[-30:]))
        raw = await asyncio.wait_for(proc.stdout.readline(), remaining)
        if not raw:
            raise RuntimeError(
                f"relay exited ({proc.returncode}) before {prefix!r}:\n" + "\n".join(seen[-30:])
            )
        line = raw.decode(errors="replace").strip()
        if line.startswith(prefix):
            return line
        seen.append(line)


# ------------------------------------------------------------------------------- leadership


async def test_only_one_relay_leads_and_the_other_takes_over(
    store: EventStore, database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-leader")
    async with (
        running_relay(store, database_url, bootstrap, topic) as a,
        running_relay(store, database_url, bootstrap, topic) as b,
    ):
        await wait_until(lambda: a.relay.is_leader or b.relay.is_leader, timeout=10)
        await asyncio.sleep(0.3)
        assert [a.relay.is_leader, b.relay.is_leader].count(True) == 1
        leader, standby = (a, b) if a.relay.is_leader else (b, a)

        for s in range(20):
            await store.append(f"first-{s}", 0, make_envelopes(f"first-{s}", 0, 3))
        await wait_until(lambda: caught_up(store, topic), timeout=10)
        assert len(leader.published) == 60 and standby.published == []

        async with store.pool.acquire() as conn:  # the leader's database session dies
            pid = leader.lock_connection.get_server_pid()
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)

        await wait_until(lambda: standby.relay.is_leader, timeout=10, message="the standby never took over")
        for s in range(20):
            await store.append(f"second-{s}", 0, make_envelopes(f"second-{s}", 0, 3))
        await wait_until(lambda: caught_up(store, topic), timeout=10)
        assert len(standby.published) >= 60
        await asyncio.sleep(1.5)  # the old leader reconnects and must now stand by
        assert [a.relay.is_leader, b.relay.is_leader].count(True) == 1 and standby.relay.is_leader

    expected = await all_event_ids(store)
    records = await read_topic(bootstrap, topic, until=lambda rs: distinct_event_ids(rs) >= expected)
    assert set(check_stream_order(records).last.values()) == {3}


# ---------------------------------------------------------------------------------- wake-up


async def test_relay_wakes_on_notify_not_on_its_timer(
    store: EventStore, database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the safety timer at 30 s only a wake-up can move the idle relay: measure append → ack.

    Appends through another replica's store (its own pool) reach it by NOTIFY; appends through
    the relay's own process poke it directly.
    """
    monkeypatch.setattr(relay_module, "SAFETY_WAKE_SECONDS", 30.0)
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "relay-wake")
    latencies: dict[str, list[float]] = {"notify": [], "local": []}
    async with (
        # only the wake-up is measured here: no broker read-back beside it
        running_relay(store, database_url, bootstrap, topic, check=False) as running,
        migrated_store(database_url, SCHEMA) as other_replica,
    ):
        await wait_until(lambda: running.relay.is_leader, timeout=10)
        for i in range(8):
            via, writer = ("notify", other_replica) if i < 6 else ("local", store)
            await asyncio.sleep(0.2)  # idle: the relay sleeps on its wake-up event
            acked = len(running.published)
            started = time.perf_counter()
            if i % 2:
                await writer.append(f"case-{i}", 0, make_envelopes(f"case-{i}", 0, 1))
            else:  # a command's own transaction wakes it too
                async with writer.transaction() as conn:
                    await writer.append(f"case-{i}", 0, make_envelopes(f"case-{i}", 0, 1), conn)
            await wait_until(partial(more_than, running.published, acked), timeout=10, interval=0.001)
            latencies[via].append(time.perf_counter() - started)
    for via, values in latencies.items():
        print(f"append → Kafka ack by {via}: {', '.join(f'{x * 1000:.0f} ms' for x in values)}")
    # typically 5-50 ms; a busy shared server (fsync, another test run's CREATE DATABASE holding
    # the transaction horizon) can stretch one, but only a wake-up could have moved it at all
    notified = sorted(latencies["notify"])
    assert notified[len(notified) // 2] < 0.25, "median append → Kafka ack"
    assert max(notified + latencies["local"]) < 2.0


def more_than(items: list[int], count: int) -> bool:
    return len(items) > count
