"""The projection runner against a real broker and real PostgreSQL: duplicates, poison, failures."""

from __future__ import annotations

import json
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
from shared.runner import _kafka_broker
from shared.settings import ServiceSettings
from tests.support.events import TEST_REGISTRY, make_envelope, migrated_store
from tests.support.kafka import new_topic, read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

#: Tansu holds a group join for half the session timeout: keep it short in tests
FAST_GROUP_JOIN = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}


class Totals:
    """A tiny read model: per stream, how many events and the sum of their ``n``.

    ``explode_on`` names values of ``n`` whose event makes ``apply`` raise, every time.
    """

    def __init__(self, topic: str, explode_on: frozenset[int] = frozenset()) -> None:
        self.name = f"totals_{uuid.uuid4().hex[:8]}"
        self.topics: Sequence[str] = (topic,)
        self.explode_on = explode_on
        self.attempts: dict[int, int] = {}

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        for env in events:
            n = int(env.data["n"])
            if n in self.explode_on:
                self.attempts[n] = self.attempts.get(n, 0) + 1
                raise RuntimeError(f"cannot apply n={n}")
            await conn.execute(
                """INSERT INTO totals (stream_id, events, total) VALUES ($1, 1, $2)
                   ON CONFLICT (stream_id) DO UPDATE
                   SET events = totals.events + 1, total = totals.total + EXCLUDED.total""",
                env.stream_id,
                n,
            )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, "proj") as store:
        async with store.pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE totals (stream_id text PRIMARY KEY, events int NOT NULL, total int NOT NULL)"
            )
        yield store


@pytest.fixture
async def topic(kafka: Any) -> str:
    return await new_topic(kafka.bootstrap_servers, "proj")


@asynccontextmanager
async def running(
    projection: Totals, store: EventStore, bootstrap: str, *, service: str = "test", max_attempts: int = 3
) -> AsyncIterator[ProjectionRunner]:
    """The projection consuming through a FastStream broker set up exactly as a service's is."""
    settings = ServiceSettings(database_url="postgresql://unused", kafka_bootstrap_servers=bootstrap)
    broker = _kafka_broker(settings)
    runner = ProjectionRunner(
        projection,
        service=service,
        pool=store.pool,
        broker=broker,
        registry=TEST_REGISTRY,
        max_attempts=max_attempts,
    )
    runner.subscribe(fetch_max_wait_ms=10, **FAST_GROUP_JOIN)
    await broker.start()
    try:
        yield runner
    finally:
        await broker.stop()


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def send(p: AIOKafkaProducer, topic: str, *values: bytes, key: bytes = b"branch-001") -> None:
    for value in values:
        await p.send_and_wait(topic, value, key=key)


async def model(store: EventStore) -> dict[str, tuple[int, int]]:
    async with store.pool.acquire() as conn:
        rows = await conn.fetch("SELECT stream_id, events, total FROM totals")
    return {r["stream_id"]: (r["events"], r["total"]) for r in rows}


async def has(store: EventStore, stream_id: str, events: int) -> bool:
    return (await model(store)).get(stream_id, (0, 0))[0] >= events


def wire(env: Envelope) -> bytes:
    return to_json(env)


# -------------------------------------------------------------------------------- duplicates


async def test_an_event_delivered_twice_changes_nothing(store: EventStore, topic: str, kafka: Any) -> None:
    bootstrap = kafka.bootstrap_servers
    events = [make_envelope("s1", v, data={"n": 10 * v}) for v in (1, 2, 3)]
    projection = Totals(topic)
    async with running(projection, store, bootstrap), producer(bootstrap) as p:
        await send(p, topic, *map(wire, events))
        await wait_until(lambda: has(store, "s1", 3), timeout=15)
        assert await model(store) == {"s1": (3, 60)}

        # the very same bytes again (a relay that republished its unacknowledged tail) ...
        await send(p, topic, wire(events[1]), wire(events[0]), wire(events[2]))
        # ... then a sentinel behind them on the same partition: once it is applied, so were they
        await send(p, topic, wire(make_envelope("sentinel", 1, data={"n": 1})))
        await wait_until(lambda: has(store, "sentinel", 1), timeout=15)
        assert await model(store) == {"s1": (3, 60), "sentinel": (1, 1)}

    # a second consumer group of the same projection reads the whole topic again from the start
    async with running(projection, store, bootstrap, service="replayed"):
        async with producer(bootstrap) as p:
            await send(p, topic, wire(make_envelope("sentinel2", 1, data={"n": 2})))
        await wait_until(lambda: has(store, "sentinel2", 1), timeout=20)
    assert await model(store) == {"s1": (3, 60), "sentinel": (1, 1), "sentinel2": (1, 2)}

    async with store.pool.acquire() as conn:
        versions = dict(
            await conn.fetch(
                "SELECT stream_id, version FROM projection_positions WHERE projection = $1", projection.name
            )
        )
    assert versions == {"s1": 3, "sentinel": 1, "sentinel2": 1}


# ------------------------------------------------------------------------------------- poison


async def test_poison_messages_go_to_the_dlq_with_their_reason_and_the_rest_goes_on(
    store: EventStore, topic: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    good_before = make_envelope("s1", 1, data={"n": 1})
    good_after = make_envelope("s1", 2, data={"n": 2})
    valid_json_bad_envelope = json.dumps({"hello": "world"}).encode()
    unknown_type = wire(make_envelope("s9", 1, type="NoSuchThing"))
    bad_data = wire(make_envelope("s8", 1, data={"n": "not a number"}))
    oversized = wire(make_envelope("s7", 1, data={"n": 1, "blob": "x" * 70_000}))
    poison = [b"\x00\x01 not json at all", valid_json_bad_envelope, unknown_type, bad_data, oversized]

    async with running(Totals(topic), store, bootstrap), producer(bootstrap) as p:
        await send(p, topic, wire(good_before), *poison, wire(good_after))
        await wait_until(lambda: has(store, "s1", 2), timeout=15)
        dead = await read_topic(bootstrap, f"{topic}.dlq", until=lambda rs: len(rs) >= len(poison))

    assert await model(store) == {"s1": (2, 3)}, "the good messages around the poison were applied"
    assert [r.value for r in dead] == poison, "dead-lettered as they were, in order"
    reasons = [dict(r.headers)["x-dlq-reason"].decode() for r in dead]
    assert reasons[0].startswith("invalid envelope") and reasons[1].startswith("invalid envelope")
    assert "unknown event type 'NoSuchThing'" in reasons[2]
    assert reasons[3].startswith("invalid ThingHappened data") and "n:" in reasons[3]
    assert "exceeds the limit" in reasons[4]
    for record in dead:
        headers = dict(record.headers)
        assert headers["x-original-topic"].decode() == topic
        assert int(headers["x-original-offset"]) >= 0
        assert record.key == b"branch-001"


async def test_an_event_that_keeps_failing_is_dead_lettered_and_the_others_applied(
    store: EventStore, topic: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    projection = Totals(topic, explode_on=frozenset({13}))
    events = [
        make_envelope("s1", 1, data={"n": 1}),
        make_envelope("s2", 1, data={"n": 5}),
        make_envelope("s1", 2, data={"n": 13}),  # this one never applies
        make_envelope("s1", 3, data={"n": 3}),
        make_envelope("s2", 2, data={"n": 5}),
    ]
    async with running(projection, store, bootstrap, max_attempts=3), producer(bootstrap) as p:
        await send(p, topic, *map(wire, events))
        await wait_until(lambda: has(store, "s1", 2), timeout=15)
        await wait_until(lambda: has(store, "s2", 2), timeout=15)
        dead = await read_topic(bootstrap, f"{topic}.dlq", until=lambda rs: len(rs) >= 1)

    assert await model(store) == {"s1": (2, 4), "s2": (2, 10)}
    assert projection.attempts[13] >= 3
    assert len(dead) == 1 and dead[0].value == wire(events[2])
    reason = dict(dead[0].headers)["x-dlq-reason"].decode()
    assert "failed 3 times" in reason and "cannot apply n=13" in reason
