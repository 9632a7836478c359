"""A command's writes as one statement without BEGIN/COMMIT (``shared.one_statement``), against a
real server: all of it commits, or — the append refused — none of it, as in a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import db_batch
from shared.eventstore import ConcurrencyError, EventStore
from tests.support.events import make_envelopes, migrated_store

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url, "one_statement", max_size=4) as store:
        async with store.pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS side (stream text, note text)")
        yield store


async def _write(store: EventStore, stream: str, expected: int, note: str) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        assert not conn.is_in_transaction()
        await db_batch.write(conn, "INSERT INTO side VALUES ($1, $2)", stream, note)
        return await store.append_later(conn, stream, expected, make_envelopes(stream, expected, 2))

    return await store.one_statement(work)


async def _notes(store: EventStore, stream: str) -> list[str]:
    async with store.pool.acquire() as conn:
        return [r["note"] for r in await conn.fetch("SELECT note FROM side WHERE stream = $1", stream)]


async def test_the_writes_and_the_append_go_as_one_statement(store: EventStore) -> None:
    assert await _write(store, "one-1", 0, "first") == 2  # (``work`` checks: no transaction open)
    assert [e.stream_version for e in await store.read_stream("one-1")] == [1, 2]
    assert await _notes(store, "one-1") == ["first"]


async def test_a_refused_append_writes_nothing_else_either(store: EventStore) -> None:
    await _write(store, "one-2", 0, "first")
    with pytest.raises(ConcurrencyError) as refused:
        await _write(store, "one-2", 0, "stale")  # the stream is at 2
    assert (refused.value.stream_id, refused.value.expected_version) == ("one-2", 0)
    assert refused.value.actual_version == 2
    assert await _notes(store, "one-2") == ["first"]
    assert await _write(store, "one-2", 2, "second") == 4
    assert await _notes(store, "one-2") == ["first", "second"]
