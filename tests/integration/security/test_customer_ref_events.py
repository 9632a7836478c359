"""A forged event carrying a raw number as ``customer_ref`` is dead-lettered with the reason (the
contracts are the same type as the commands): real broker, real PostgreSQL, the real registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

import shared.contracts.reception  # noqa: F401  (registers the reception events)
from shared.contracts.refs import legacy_pseudonym
from shared.envelope import Envelope, to_json
from shared.eventstore import EventStore
from shared.pii import customer_ref, pii_key_from_env
from shared.projection import ProjectionRunner
from shared.registry import REGISTRY
from shared.runner import _kafka_broker
from shared.settings import ServiceSettings
from tests.support.events import make_envelope, migrated_store
from tests.support.kafka import new_topic, read_topic
from tests.support.pii import phone
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


class Arrivals:
    """Remembers the customer refs of the arrivals it applied."""

    def __init__(self, topic: str) -> None:
        self.name = f"arrivals_{uuid4().hex[:8]}"
        self.topics: Sequence[str] = (topic,)
        self.refs: list[str | None] = []

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        self.refs += [e.data.get("customer_ref") for e in events]


def arrival(ref: str) -> bytes:
    data = {"visit_id": str(uuid4()), "arrival": "walk_in", "at": "2026-03-02T02:00:00Z", "customer_ref": ref}
    return to_json(make_envelope(f"visit-{uuid4()}", 1, type="VisitArrived", data=data))


async def test_a_raw_number_in_an_event_is_dead_lettered(database_url: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    topic = await new_topic(bootstrap, "refs")
    raw = phone()
    projection = Arrivals(topic)
    async with migrated_store(database_url, "refs") as store:
        broker = _kafka_broker(
            ServiceSettings(database_url="postgresql://unused", kafka_bootstrap_servers=bootstrap)
        )
        runner = ProjectionRunner(
            projection, service="refs", pool=store.pool, broker=broker, registry=REGISTRY
        )
        runner.subscribe(fetch_max_wait_ms=10, session_timeout_ms=2000, heartbeat_interval_ms=500)
        await broker.start()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        try:
            for value in (arrival("cust_ref_0001"), arrival(raw), arrival("cust_ref_0002")):
                await producer.send_and_wait(topic, value, key=b"branch-001")
            await wait_until(lambda: len(projection.refs) >= 2, timeout=20)
            dead = await read_topic(bootstrap, f"{topic}.dlq", until=lambda rs: len(rs) >= 1)
        finally:
            await producer.stop()
            await broker.stop()
    assert projection.refs == ["cust_ref_0001", "cust_ref_0002"], "the forged one was not applied"
    (record,) = dead
    reason = dict(record.headers)["x-dlq-reason"].decode()
    assert reason.startswith("invalid VisitArrived data: customer_ref") and "shaped like a phone" in reason
    assert raw not in reason


async def test_a_legacy_event_with_a_raw_number_still_loads_with_the_pseudonym(database_url: str) -> None:
    """Events stored before the rule may hold a raw number: read back from the own store the value
    is replaced by the reference the vault issues for that number; the row is not rewritten."""
    raw = phone()
    stream = f"visit-{uuid4()}"
    data = {"visit_id": str(uuid4()), "arrival": "walk_in", "at": "2026-03-02T02:00:00Z", "customer_ref": raw}
    async with migrated_store(database_url, "legacy") as test_store:
        store = EventStore(test_store.pool, channel="bc_events_legacy", registry=REGISTRY)
        await store.append(stream, 0, [make_envelope(stream, 1, type="VisitArrived", data=data)])
        (loaded,) = await store.read_stream(stream)
        async with store.pool.acquire() as conn:
            kept = await conn.fetchval(
                "SELECT data->>'customer_ref' FROM events WHERE stream_id = $1", stream
            )
        await store.notifier.close()
    assert loaded.data["customer_ref"] == legacy_pseudonym(raw) == customer_ref(raw, pii_key_from_env())
    assert REGISTRY.decode(loaded).customer_ref == legacy_pseudonym(raw)  # type: ignore[attr-defined]
    assert kept == raw, "append-only: the stored row is left as it was"
