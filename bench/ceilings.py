"""Raw ceilings of this machine: plain asyncpg and plain aiokafka, nothing of ours in the way."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.stats import Report, percentile

SECTION = "1. raw ceilings"

_TABLE = """
CREATE TABLE raw_events (
    id bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, stream_id text NOT NULL,
    at timestamptz NOT NULL, data jsonb NOT NULL)
"""
_INSERT = "INSERT INTO raw_events (event_id, stream_id, at, data) VALUES ($1, $2, $3, $4::jsonb)"
_DATA = json.dumps({"channel": "in_branch", "customer_ref": "cust_000001", "description": "x" * 80})


async def run(
    report: Report, database_url: str, bootstrap: str, *, seconds: float, tasks: int, pool_size: int
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=pool_size, max_size=pool_size)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS raw_events")
            await conn.execute(_TABLE)
        await single_row_inserts(report, pool, seconds=seconds, tasks=tasks)
        await one_connection_inserts(report, pool, seconds=seconds)
        await batched_inserts(report, pool, rows=20_000 if seconds < 3 else 100_000)
    finally:
        await pool.close()
    await kafka_produce(report, bootstrap, messages=20_000 if seconds < 3 else 100_000)


async def single_row_inserts(report: Report, pool: asyncpg.Pool, *, seconds: float, tasks: int) -> None:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with pool.acquire() as conn:
                await conn.execute(_INSERT, uuid.uuid4(), f"raw-{n}-{i}", datetime.now(UTC), _DATA)
            latencies.append(time.perf_counter() - started)
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    elapsed = time.perf_counter() - started
    report.add(SECTION, f"pg insert, 1 row/tx, {tasks} tasks", len(latencies) / elapsed, "tx/s")
    report.add(SECTION, "  latency p99", percentile(latencies, 99) * 1000, "ms")


async def one_connection_inserts(report: Report, pool: asyncpg.Pool, *, seconds: float) -> None:
    count = 0
    deadline = time.perf_counter() + min(seconds, 3)
    async with pool.acquire() as conn:
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            await conn.execute(_INSERT, uuid.uuid4(), f"one-{count}", datetime.now(UTC), _DATA)
            count += 1
        elapsed = time.perf_counter() - started
    report.add(SECTION, "pg insert, 1 row/tx, 1 connection", count / elapsed, "tx/s")


async def batched_inserts(report: Report, pool: asyncpg.Pool, *, rows: int) -> None:
    now = datetime.now(UTC)
    records = [(uuid.uuid4(), f"copy-{i}", now, _DATA) for i in range(rows)]
    async with pool.acquire() as conn:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "raw_events", records=records, columns=["event_id", "stream_id", "at", "data"]
        )
        report.add(SECTION, "pg COPY", rows / (time.perf_counter() - started), "rows/s")
        many = [(uuid.uuid4(), f"many-{i}", now, _DATA) for i in range(rows // 4)]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(_INSERT, many)
        report.add(SECTION, "pg executemany (1 tx)", len(many) / (time.perf_counter() - started), "rows/s")


async def kafka_produce(report: Report, bootstrap: str, *, messages: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    payload = json.dumps({"type": "ComplaintReceived", "data": json.loads(_DATA)}).encode()
    try:
        await producer.send_and_wait("bench.raw.v1", payload, key=b"warm-up")
        started = time.perf_counter()
        pending = [
            await producer.send("bench.raw.v1", payload, key=f"b{i % 64}".encode()) for i in range(messages)
        ]
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    report.add(SECTION, "kafka produce (linger 5 ms, acks=all)", messages / elapsed, "msg/s")
