"""``branchcare dlq`` against a real broker and PostgreSQL: a dead letter is listed, shown masked,
redriven to its source topic once, and applied once by the consumer that dead-lettered it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from shared.envelope import Envelope, to_json
from shared.eventstore import EventStore
from shared.projection import ProjectionRunner
from shared.redrive import LOCK_SQL, REDRIVEN_FOR, REDRIVEN_FROM, claim
from shared.runner import _kafka_broker
from shared.settings import ServiceSettings
from tests.integration.cli.support import run_cli, run_json
from tests.support.events import TEST_REGISTRY, make_envelope, migrated_store
from tests.support.kafka import new_topic, read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


class Totals:
    """Per stream: the sum of ``n``; fails on the values in ``broken`` (a bug, later fixed)."""

    def __init__(self, topic: str) -> None:
        self.name = f"totals_{uuid.uuid4().hex[:8]}"
        self.topics: Sequence[str] = (topic,)
        self.broken = {13}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            if env.data["n"] in self.broken:
                raise RuntimeError(f"cannot apply n={env.data['n']} (phone 13812345678)")
            await conn.execute(
                """INSERT INTO totals (stream_id, total) VALUES ($1, $2)
                   ON CONFLICT (stream_id) DO UPDATE SET total = totals.total + EXCLUDED.total""",
                env.stream_id,
                env.data["n"],
            )


@asynccontextmanager
async def consuming(
    projection: Totals, store: EventStore, bootstrap: str, service: str
) -> AsyncIterator[None]:
    settings = ServiceSettings(database_url="postgresql://unused", kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    ProjectionRunner(
        projection, service=service, pool=store.pool, broker=broker, registry=TEST_REGISTRY, max_attempts=1
    ).subscribe(fetch_max_wait_ms=10, session_timeout_ms=2000, heartbeat_interval_ms=500)
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


async def total(store: EventStore, stream: str) -> int | None:
    async with store.pool.acquire() as conn:
        value = await conn.fetchval("SELECT total FROM totals WHERE stream_id = $1", stream)
    return None if value is None else int(value)


async def test_a_dead_letter_is_listed_shown_and_redriven_once(
    database_url: str, kafka: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "clidlq")
    where = ("--bootstrap-servers", bootstrap, "--database-url", database_url)
    async with migrated_store(database_url, "ops") as store:
        async with store.pool.acquire() as conn:
            await conn.execute("CREATE TABLE totals (stream_id text PRIMARY KEY, total int NOT NULL)")
        projection = Totals(topic)
        events = [make_envelope("s1", v, data={"n": n}) for v, n in ((1, 1), (2, 13), (3, 2))]
        async with consuming(projection, store, bootstrap, "ops"):
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
            await producer.start()
            try:
                for env in events:
                    await producer.send_and_wait(topic, to_json(env), key=b"branch-001")
                await producer.send_and_wait(topic, b"\x00 no envelope", key=b"branch-001")
            finally:
                await producer.stop()
            await read_topic(bootstrap, f"{topic}.dlq", until=lambda rs: len(rs) >= 2)
            await wait_until(lambda: _is(store, "s1", 3), timeout=15)  # 1 + 2: v2 was dead-lettered

            code, rows = await run_json(capsys, "dlq", "list", "--topic", topic, *where)
            assert code == 0 and len(rows) == 2
            letter, poison = rows
            assert poison["reason"].startswith("invalid envelope") and poison["stream"] is None
            assert letter["id"] == f"{topic}.dlq:{letter['id'].split(':')[1]}:0"
            assert letter["source_topic"] == topic and letter["consumer"] == f"ops.{projection.name}"
            assert letter["type"] == "ThingHappened" and letter["stream"] == "s1"
            assert "cannot apply n=13" in letter["reason"] and "13812345678" not in letter["reason"]
            assert letter["redriven_at"] is None
            code, _ = await run_cli(capsys, "dlq", "list", "--topic", "nosuch.events.v1", *where)
            assert code == 1, "a topic the broker does not have is an error, not an empty list"
            code, none = await run_json(capsys, "dlq", "list", "--topic", topic, "--reason", "nope", *where)
            assert code == 0 and none == []
            code, one = await run_json(
                capsys, "dlq", "list", "--topic", topic, "--reason", "CANNOT APPLY", *where
            )
            assert code == 0 and [r["id"] for r in one] == [letter["id"]]
            code, newest = await run_json(capsys, "dlq", "list", "--topic", topic, "--limit", "1", *where)
            assert [r["id"] for r in newest] == [poison["id"]]
            code, old = await run_json(capsys, "dlq", "list", "--topic", topic, "--until", "1h", *where)
            assert code == 0 and old == [], "nothing was dead-lettered before an hour ago"

            code, shown = await run_json(capsys, "dlq", "show", letter["id"], *where)
            assert code == 0 and shown["envelope"]["stream_version"] == 2
            assert shown["headers"]["x-original-topic"] == topic

            code, out = await run_cli(capsys, "dlq", "redrive", letter["id"], "--dry-run", *where)
            assert code == 0 and f"would go to {topic}" in out

            projection.broken = set()  # the bug is fixed and deployed
            code, out = await run_cli(capsys, "dlq", "redrive", letter["id"], *where)
            assert code == 0 and f"sent to {topic}" in out, out
            await wait_until(lambda: _is(store, "s1", 16), timeout=15)  # applied late, once

            code, again = await run_json(capsys, "dlq", "redrive", "--all", "--topic", topic, *where)
            assert code == 0 and {r["id"]: r["outcome"].split(":")[0] for r in again} == {
                letter["id"]: "already redriven",
                poison["id"]: "skipped",  # bytes that can never apply go back only when named
            }
            code, rows = await run_json(capsys, "dlq", "list", "--topic", topic, *where)
            assert rows[0]["redriven_at"] is not None and rows[1]["redriven_at"] is None

        # a consumer group that never dead-lettered it sees the redrive as a duplicate
        async with store.pool.acquire() as conn:
            await conn.execute("TRUNCATE totals")
        fixed = Totals(topic)
        fixed.broken = set()
        async with consuming(fixed, store, bootstrap, "other"):
            records = await read_topic(bootstrap, topic, until=lambda rs: len(rs) >= 5)
            assert sum(1 for r in records if dict(r.headers).get("x-redriven-from")) == 1, "sent once"
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
            await producer.start()
            try:  # behind the redrive on the same partition: once applied, so was everything before
                await producer.send_and_wait(
                    topic, to_json(make_envelope("s2", 1, data={"n": 5})), key=b"branch-001"
                )
            finally:
                await producer.stop()
            await wait_until(lambda: _is(store, "s2", 5), timeout=20)
        assert await total(store, "s1") == 16, "1 + 13 + 2: the redriven copy of v2 was a duplicate here"


async def _is(store: EventStore, stream: str, expected: int) -> bool:
    return await total(store, stream) == expected


async def test_a_redrive_fetched_before_its_ledger_row_commits_is_applied_not_dropped(
    database_url: str,
) -> None:
    """The redrive commits its ``dlq_redrives`` row only after the broker acknowledged the record,
    so the consumer can fetch the record first (under load it did: the flake of the test above).
    Its claim waits for the redrive's transaction instead of calling the record a duplicate."""
    letter = "clidlq.x.v1.dlq:2:1"
    record = type("Record", (), {"headers": [(REDRIVEN_FROM, letter.encode()), (REDRIVEN_FOR, b"ops.t")]})
    async with migrated_store(database_url, "ops") as store:
        async with store.pool.acquire() as cli, store.pool.acquire() as consumer:
            async with cli.transaction():  # as shared/cli/_deadletters.redrive: lock, row, send, commit
                await cli.execute(LOCK_SQL, letter)
                await cli.execute(
                    """INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, source_topic,
                                                 consumer, redriven_by)
                       VALUES ('clidlq.x.v1.dlq', 2, 1, 'clidlq.x.v1', 'ops.t', 'test')"""
                )

                async def claimed() -> bool:
                    async with consumer.transaction():
                        return await claim(consumer, record, "ops.t")

                claiming = asyncio.create_task(claimed())
                done, _ = await asyncio.wait([claiming], timeout=0.3)
                assert not done, "the claim decided before the redrive's transaction ended"
            assert await claiming, "the redriven record was dropped as a duplicate"
            async with consumer.transaction():
                assert not await claim(consumer, record, "ops.t"), "a redelivery is a duplicate"
