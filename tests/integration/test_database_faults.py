"""The event store's answers to database faults, against a real server; the faults come from
outside (another connection terminates the store's backends with ``pg_terminate_backend``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.dbfaults import DatabaseUnavailable, OutcomeUnknown
from shared.eventstore import EventStore
from tests.support.events import connect, make_envelopes, migrated_store

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, max_size=4) as store:
        yield store


async def _terminate_pool_backends(database_url: str) -> int:
    """What a PostgreSQL restart does to pooled connections, short of the restart."""
    killer = await connect(database_url)
    try:
        return int(
            await killer.fetchval(
                # the timeout makes it wait until each backend is gone (termination is a signal)
                """SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()"""
            )
        )
    finally:
        await killer.close()


async def test_a_pooled_connection_killed_meanwhile_does_not_fail_the_next_command(
    store: EventStore, database_url: str
) -> None:
    async with store.transaction() as conn:  # warm the pool
        await store.append("s-1", 0, make_envelopes("s-1", 0, 1), conn)
    assert await _terminate_pool_backends(database_url) >= 1
    async with store.transaction() as conn:
        await store.append("s-1", 1, make_envelopes("s-1", 1, 1), conn)
    await _terminate_pool_backends(database_url)
    assert await store.append("s-1", 2, make_envelopes("s-1", 2, 1)) == 3  # one statement
    assert [e.stream_version for e in await store.read_stream("s-1")] == [1, 2, 3]


async def test_a_connection_closed_before_commit_recorded_nothing_and_the_audit_hook_hears_it(
    database_url: str,
) -> None:
    failed: list[bool] = []

    async def lose_connection(conn: asyncpg.Connection) -> None:
        await _terminate_pool_backends(database_url)  # gone before COMMIT is sent

    async with migrated_store(database_url, max_size=2) as store:
        store.before_commit = lose_connection
        store.commit_failed = lambda: failed.append(True)
        with pytest.raises(DatabaseUnavailable):
            async with store.transaction() as conn:
                await store.append("s-2", 0, make_envelopes("s-2", 0, 1), conn)
        assert failed == [True]
        store.before_commit = None
        assert await store.read_stream("s-2") == []


async def test_a_connection_lost_during_commit_is_an_unknown_outcome(database_url: str) -> None:
    """A deferred trigger makes COMMIT take a second; the backend is terminated meanwhile."""
    async with migrated_store(database_url, max_size=2) as store:
        async with store.pool.acquire() as conn:
            await conn.execute(
                """CREATE TABLE slow_commit (x int);
                   CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$;
                   CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_commit
                   DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();"""
            )

        async def terminate_soon(pid: int) -> None:
            await asyncio.sleep(0.5)
            killer = await connect(database_url)
            try:
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await killer.close()

        with pytest.raises(OutcomeUnknown):
            async with store.transaction() as conn:
                await store.append("s-3", 0, make_envelopes("s-3", 0, 1), conn)
                await conn.execute("INSERT INTO slow_commit VALUES (1)")
                killing = asyncio.create_task(terminate_soon(conn.get_server_pid()))
        await killing
