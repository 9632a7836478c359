"""The event store: single-event appends and commands under concurrency, batched appends, relay drain."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench.stats import Report, percentile
from shared.clock import SystemClock
from shared.commands import CommandHandler
from shared.decider import Decider
from shared.envelope import Envelope, Metadata
from shared.eventstore import EventStore, LogPosition
from shared.migrations import apply_migrations
from shared.registry import EventData, EventRegistry
from shared.relay import OutboxRelay
from shared.runner import _kafka_broker, kafka_publisher
from shared.settings import ServiceSettings

SECTION = "2. event store"
#: the target: 2,000 single-event commands/s with append p99 ≤ 15 ms
OFFERED_RATE = 2000.0
SCHEMA = "bench"


class CaseOpened(EventData):
    branch_id: str
    description: str


CaseOpened.event_type, CaseOpened.schema_version = "CaseOpened", 1
REGISTRY = EventRegistry()
REGISTRY.register(CaseOpened)


@dataclass(frozen=True)
class OpenCase:
    description: str


def _decide(state: int, command: OpenCase) -> Sequence[EventData]:
    return [CaseOpened(branch_id="b", description=command.description)]


DECIDER: Decider[OpenCase, int] = Decider(0, _decide, lambda state, _event: state + 1)
META = Metadata(actor="bench")
DATA = {"branch_id": "b", "description": "x" * 80}


def envelope(stream_id: str, version: int, branch: str) -> Envelope:
    now = datetime.now(UTC)
    return Envelope(
        event_id=uuid.uuid4(),
        type="CaseOpened",
        schema_version=1,
        stream_id=stream_id,
        stream_version=version,
        branch_id=branch,
        occurred_at=now,
        recorded_at=now,
        correlation_id=uuid.uuid4(),
        actor="bench",
        data=DATA,
    )


async def run(
    report: Report,
    database_url: str,
    bootstrap: str,
    *,
    seconds: float,
    tasks: int,
    pool_size: int,
    batch: int,
) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=pool_size, max_size=pool_size, server_settings={"search_path": SCHEMA}
    )
    assert pool is not None
    store = EventStore(pool, channel=f"bc_events_{SCHEMA}", registry=REGISTRY)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, SCHEMA, None)
        # the store alone: as in a service whose relay runs in-process, appends poke the relay
        # directly (here: nobody) instead of sending NOTIFY
        store.notifier.attach_local(_nobody)
        await single_appends(report, store, seconds=seconds, tasks=tasks)
        await offered_appends(report, store, seconds=seconds, rate=OFFERED_RATE)
        await commands(report, store, seconds=seconds, tasks=tasks)
        await batched_appends(report, store, seconds=seconds, batch=batch)
        store.notifier.detach_local(_nobody)
        await with_relay(report, store, database_url, bootstrap, seconds=seconds, tasks=tasks)
        await relay_drain(report, store, database_url, bootstrap)
    finally:
        await store.notifier.close()
        await pool.close()


async def _timed(tasks: int, seconds: float, one: object) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one(n, i)  # type: ignore[operator]
            latencies.append(time.perf_counter() - started)
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return latencies, time.perf_counter() - started


async def single_appends(report: Report, store: EventStore, *, seconds: float, tasks: int) -> None:
    async def one(n: int, i: int) -> None:
        stream = f"single-{n}-{i}"
        await store.append(stream, 0, [envelope(stream, 1, f"b{n}")])

    latencies, elapsed = await _timed(tasks, seconds, one)
    report.add(SECTION, f"append 1 event/tx, {tasks} tasks", len(latencies) / elapsed, "events/s")
    report.add(SECTION, "  append latency p50", percentile(latencies, 50) * 1000, "ms")
    report.add(SECTION, "  append latency p99", percentile(latencies, 99) * 1000, "ms")


async def offered_appends(report: Report, store: EventStore, *, seconds: float, rate: float) -> None:
    """Open loop: one single-event append due every 1/rate s, whatever the earlier ones are doing;
    latency counts from the moment it was due (queueing for a pool connection included)."""
    latencies: list[float] = []

    async def one(i: int, due: float) -> None:
        stream = f"offered-{i}"
        await store.append(stream, 0, [envelope(stream, 1, f"b{i % 64}")])
        latencies.append(time.perf_counter() - due)

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter() + 0.01
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    report.add(
        SECTION, f"append 1 event/tx, offered {rate:,.0f}/s (open loop)", len(latencies) / elapsed, "events/s"
    )
    report.add(SECTION, "  append latency p50 (open loop)", percentile(latencies, 50) * 1000, "ms")
    report.add(SECTION, "  append latency p99 (open loop)", percentile(latencies, 99) * 1000, "ms")


async def commands(report: Report, store: EventStore, *, seconds: float, tasks: int) -> None:
    """Through CommandHandler: read the (new) stream, decide, append — what a POST does."""
    handler: CommandHandler[OpenCase, int] = CommandHandler(
        service="bench", store=store, decider=DECIDER, clock=SystemClock()
    )
    command = OpenCase("x" * 80)

    async def one(n: int, i: int) -> None:
        await handler.execute(f"cmd-{n}-{i}", command, branch_id=f"b{n}", meta=META, must_exist=False)

    latencies, elapsed = await _timed(tasks, seconds, one)
    report.add(SECTION, f"command (load+decide+append), {tasks} tasks", len(latencies) / elapsed, "cmd/s")
    report.add(SECTION, "  command latency p50", percentile(latencies, 50) * 1000, "ms")
    report.add(SECTION, "  command latency p99", percentile(latencies, 99) * 1000, "ms")


async def batched_appends(report: Report, store: EventStore, *, seconds: float, batch: int) -> None:
    tasks = 4

    async def one(n: int, i: int) -> None:
        stream = f"batch-{n}-{i}"
        await store.append(stream, 0, [envelope(stream, v, f"b{n}") for v in range(1, batch + 1)])

    latencies, elapsed = await _timed(tasks, seconds, one)
    report.add(
        SECTION, f"append {batch} events/tx, {tasks} tasks", len(latencies) * batch / elapsed, "events/s"
    )


def _nobody() -> None:
    pass


async def with_relay(
    report: Report, store: EventStore, database_url: str, bootstrap: str, *, seconds: float, tasks: int
) -> None:
    """Single-event appends while the service's relay publishes them to Kafka in the same process."""
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    await broker.start()

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})

    async with store.pool.acquire() as conn:  # publish from the end of the log: only what follows
        await conn.execute(
            """INSERT INTO relay_checkpoint (topic, tx_id, position)
               SELECT 'bench.live.v1', tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1
               ON CONFLICT (topic) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position"""
        )
    relay = OutboxRelay(store, connect, kafka_publisher(broker), topic="bench.live.v1", service="bench")
    task = asyncio.create_task(relay.run())
    try:
        while not relay.is_leader:  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)

        async def one(n: int, i: int) -> None:
            stream = f"live-{n}-{i}"
            await store.append(stream, 0, [envelope(stream, 1, f"b{n}")])

        latencies, elapsed = await _timed(tasks, seconds, one)
        appended_until = time.perf_counter()
        async with store.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1"
            )
        end = LogPosition(int(row["tx_id"]), int(row["position"]))
        while relay.position < end:  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.005)
        lag = time.perf_counter() - appended_until
    finally:
        await relay.stop(task)
        await broker.stop()
    label = f"append 1 event/tx, {tasks} tasks, relay publishing"
    report.add(SECTION, label, len(latencies) / elapsed, "events/s")
    report.add(SECTION, "  append latency p99 (relay running)", percentile(latencies, 99) * 1000, "ms")
    report.add(SECTION, "  relay behind when appends stop", lag * 1000, "ms")


async def relay_drain(report: Report, store: EventStore, database_url: str, bootstrap: str) -> None:
    """Publish the whole backlog written above with the service's relay and producer settings."""
    async with store.pool.acquire() as conn:
        total = int(await conn.fetchval("SELECT count(*) FROM events"))
        row = await conn.fetchrow(
            "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1"
        )
        await conn.execute("DELETE FROM relay_checkpoint")
    end = LogPosition(int(row["tx_id"]), int(row["position"]))
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    await broker.start()

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(database_url, server_settings={"search_path": SCHEMA})

    relay = OutboxRelay(store, connect, kafka_publisher(broker), topic="bench.relay.v1", service="bench")
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        while relay.position < end:  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        await relay.stop(task)
        await broker.stop()
    report.add(SECTION, f"relay drain ({total:,} events to Kafka)", total / elapsed, "events/s")
