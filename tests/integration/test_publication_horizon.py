"""Publication is held back only by transactions that can append to this store (shared.horizon).

Real PostgreSQL and a real broker; the long transactions are other sessions, from outside: one in
another database, one of an unrelated application in the same database (neither may stall the
relay), and one of the service's own sessions (it must hold the relay back, loudly: gauges and a
log line naming the backend).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest

from shared.devstack import drop_database, ensure_database
from shared.eventstore import EventStore, LogPosition
from shared.horizon import WRITER_LOCK_CLASS, horizon_sql
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_HELD_BACK
from shared.migrations import apply_migrations
from tests.integration.test_relay import SCHEMA, running_relay
from tests.support.events import TEST_REGISTRY, make_envelopes
from tests.support.kafka import new_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

WRITER = "svc-horizon"
HOLD_SECONDS = 8.0


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    """A store whose pool is the service's sessions (application_name = the writer's name)."""
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=5,
        server_settings={"search_path": SCHEMA, "application_name": WRITER},
    )
    store = EventStore(pool, channel=f"bc_events_{SCHEMA}", registry=TEST_REGISTRY, writer_name=WRITER)
    async with pool.acquire() as conn:
        await apply_migrations(conn, SCHEMA, None)
    try:
        yield store
    finally:
        await pool.close()


async def _hold(url: str, seconds: float, application: str, started: asyncio.Event) -> None:
    """A transaction with an id, open for ``seconds`` (a report, a forgotten psql session)."""
    conn = await asyncpg.connect(url, server_settings={"application_name": application})
    try:
        async with conn.transaction():
            await conn.fetchval("SELECT pg_current_xact_id()")
            started.set()
            await asyncio.sleep(seconds)
    finally:
        await conn.close()


async def _published_within(relay: Any, store: EventStore, stream: str, seconds: float) -> float:
    before = len(relay.published)
    started = time.monotonic()
    await store.append(stream, 0, make_envelopes(stream, 0, 3))
    await wait_until(lambda: len(relay.published) >= before + 3, timeout=seconds, interval=0.01)
    return time.monotonic() - started


async def test_a_long_transaction_in_another_database_or_application_does_not_stall_publication(
    store: EventStore, database_url: str, pg_server_url: str, kafka: Any
) -> None:
    other = f"bc_other_{uuid.uuid4().hex[:10]}"
    other_url = await ensure_database(pg_server_url, other)
    topic = await new_topic(kafka.bootstrap_servers, "horizon")
    try:
        async with running_relay(store, database_url, kafka.bootstrap_servers, topic) as relay:
            await _published_within(relay, store, "warm-up", 15)
            for url, application in ((other_url, "report"), (database_url, "psql")):
                started = asyncio.Event()
                holder = asyncio.create_task(_hold(url, HOLD_SECONDS, application, started))
                await started.wait()
                took = await _published_within(relay, store, f"s-{application}", 2.0)
                assert took < 2.0
                assert holder.done() is False  # still holding: it really was concurrent
                holder.cancel()
                await asyncio.gather(holder, return_exceptions=True)
    finally:
        await drop_database(pg_server_url, other)


async def test_the_services_own_long_transaction_holds_back_loudly(
    store: EventStore, database_url: str, kafka: Any, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await new_topic(kafka.bootstrap_servers, "horizon")
    caplog.set_level(logging.WARNING, logger="shared.relay")
    async with running_relay(store, database_url, kafka.bootstrap_servers, topic) as relay:
        await _published_within(relay, store, "warm-up", 15)
        started = asyncio.Event()
        holder = asyncio.create_task(_hold(database_url, 4.0, WRITER, started))
        await started.wait()
        before = len(relay.published)
        await store.append("held", 0, make_envelopes("held", 0, 2))
        await asyncio.sleep(3.0)
        assert len(relay.published) == before  # held back: the writer may still append
        assert OUTBOX_HELD_BACK.labels("test")._value.get() > 1.0
        assert OUTBOX_BACKLOG.labels("test")._value.get() >= 2
        assert any("held back" in r.message and WRITER in r.message for r in caplog.records)
        await holder
        await wait_until(lambda: len(relay.published) >= before + 2, timeout=5)
        await wait_until(lambda: OUTBOX_HELD_BACK.labels("test")._value.get() == 0, timeout=5)


async def _holding(url: str, application: str, lock_key: int | None, stack: AsyncExitStack) -> int:
    """A transaction with an id, open until ``stack`` closes (taking the writers' lock first when
    ``lock_key`` is given, as a tool's append does); returns its id."""
    conn = await asyncpg.connect(url, server_settings={"application_name": application})
    stack.push_async_callback(conn.close)
    tx = conn.transaction()
    await tx.start()
    stack.push_async_callback(tx.rollback)
    if lock_key is not None:
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", WRITER_LOCK_CLASS, lock_key)
    return int(await conn.fetchval("SELECT pg_current_xact_id()::text"))


async def _horizon(store: EventStore, after: LogPosition) -> int:
    """The narrow horizon a reader after ``after`` sees. A transaction of another test that ends
    between the snapshot and the look at the sessions stays counted (safe side, lower): the
    highest of a few evaluations is the exact one."""
    query = "SELECT (" + horizon_sql("$1::xid8", "$2::bigint", "$3", "$4", "$5") + ")::text"
    async with store.pool.acquire() as conn:
        args = (after.tx_id, after.position, *store._horizon_args)
        return max([int(await conn.fetchval(query, *args)) for _ in range(3)])


async def test_the_narrow_horizon_is_the_oldest_transaction_that_can_append(
    store: EventStore, database_url: str, pg_server_url: str
) -> None:
    """Several in-flight transactions at once: another database's, and another application's
    without the lock, are passed over; another application's with the lock, the writer's own
    (lock or not), and any of this database when the store has no writer name, hold it back."""
    other = f"bc_other_{uuid.uuid4().hex[:10]}"
    other_url = await ensure_database(pg_server_url, other)
    key, start = store.lock_key, LogPosition(0, 0)
    try:
        async with AsyncExitStack() as writer_stack:
            async with AsyncExitStack() as stack:
                await _holding(other_url, WRITER, None, stack)
                await _holding(database_url, "psql", None, stack)
                await _holding(database_url, "report", key + 1, stack)  # another store's lock
                tool = await _holding(database_url, "tool", key, stack)
                writer = await _holding(database_url, WRITER, None, writer_stack)
                await store.append("after-them", 0, make_envelopes("after-them", 0, 1))  # commits last
                assert await _horizon(store, start) == tool
            assert await _horizon(store, start) == writer
        # only ended transactions are left: nothing in flight can append
        assert await _horizon(store, start) > writer
        async with AsyncExitStack() as stack:
            psql = await _holding(database_url, "psql", None, stack)
            writer = await _holding(database_url, WRITER, None, stack)
            await _holding(database_url, "tool", key, stack)
            await store.append("after-writer", 0, make_envelopes("after-writer", 0, 1))
            assert await _horizon(store, start) == writer
            nameless = EventStore(store.pool, channel=f"bc_events_{SCHEMA}", registry=TEST_REGISTRY)
            assert await _horizon(nameless, start) == psql
    finally:
        await drop_database(pg_server_url, other)
