"""Appends of several streams joined into one statement (``shared.append_many``): every stream's
version is checked, all events are inserted or none, in the order they were queued."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from shared import append_many, db_batch
from shared.eventstore import ConcurrencyError, EventStore
from tests.support.events import make_envelopes, migrated_store

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    async with migrated_store(database_url) as store:
        yield store


def statements(conn: asyncpg.Connection) -> list[str]:
    """What ``conn`` sends from now on (its query logger)."""
    sent: list[str] = []
    conn.add_query_logger(lambda record: sent.append(record.query))
    return sent


async def versions(store: EventStore, *streams: str) -> list[int]:
    return [len(await store.read_stream(s)) for s in streams]


async def test_joined_appends_go_as_one_statement_in_the_order_queued(store: EventStore) -> None:
    await store.append("counter-1", 0, make_envelopes("counter-1", 0, 1))
    async with store.transaction() as conn:
        sent = statements(conn)
        await store.append_later(conn, "counter-1", 1, make_envelopes("counter-1", 1, 2))
        append_many.let_join(conn)
        await store.append_later(conn, "visit-1", 0, make_envelopes("visit-1", 0, 1))
        append_many.let_join(conn)
        await store.append_later(conn, "visit-2", 0, make_envelopes("visit-2", 0, 2))
    assert len([s for s in sent if "INSERT INTO events" in s]) == 1, sent
    assert await versions(store, "counter-1", "visit-1", "visit-2") == [3, 1, 2]
    rows = await store.read_rows("SELECT stream_id, stream_version FROM events ORDER BY position")
    assert [(r["stream_id"], r["stream_version"]) for r in rows] == [
        ("counter-1", 1),
        ("counter-1", 2),
        ("counter-1", 3),
        ("visit-1", 1),
        ("visit-2", 1),
        ("visit-2", 2),
    ]


async def test_one_stale_stream_refuses_every_stream_of_the_statement(store: EventStore) -> None:
    await store.append("visit-1", 0, make_envelopes("visit-1", 0, 1))
    with pytest.raises(ConcurrencyError) as refused:
        async with store.transaction() as conn:
            await store.append_later(conn, "counter-1", 0, make_envelopes("counter-1", 0, 1))
            append_many.let_join(conn)
            # visit-1 is at 1, not 0: the counter's events must not be stored either
            await store.append_later(conn, "visit-1", 0, make_envelopes("visit-1", 0, 1))
            await db_batch.flush(conn)
    assert (refused.value.stream_id, refused.value.expected_version) == ("visit-1", 0)
    assert refused.value.actual_version == 1
    assert await versions(store, "counter-1", "visit-1") == [0, 1]


async def test_a_stream_already_queued_is_sent_first_not_joined(store: EventStore) -> None:
    async with store.transaction() as conn:
        await store.append_later(conn, "case-1", 0, make_envelopes("case-1", 0, 1))
        append_many.let_join(conn)
        await store.append_later(conn, "case-1", 1, make_envelopes("case-1", 1, 1))
    assert await versions(store, "case-1") == [2]


async def test_not_let_join_the_queued_append_is_sent_first(store: EventStore) -> None:
    async with store.transaction() as conn:
        sent = statements(conn)
        await store.append_later(conn, "a", 0, make_envelopes("a", 0, 1))
        await store.append_later(conn, "b", 0, make_envelopes("b", 0, 1))
    assert len([s for s in sent if "INSERT INTO events" in s]) == 2, sent
    assert await versions(store, "a", "b") == [1, 1]


async def test_in_one_statement_a_stale_stream_aborts_the_queued_writes_too(store: EventStore) -> None:
    # no transaction to roll back (``shared.one_statement``): the refusal must abort the statement
    async with store.pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS joined_side (note text)")
    await store.append("visit-3", 0, make_envelopes("visit-3", 0, 1))

    def work(expected: int) -> Callable[[asyncpg.Connection], Awaitable[int]]:
        async def run(conn: asyncpg.Connection) -> int:
            assert not conn.is_in_transaction()
            await db_batch.write(conn, "INSERT INTO joined_side VALUES ($1)", f"at {expected}")
            await store.append_later(conn, "counter-3", 0, make_envelopes("counter-3", 0, 1))
            append_many.let_join(conn)
            return await store.append_later(conn, "visit-3", expected, make_envelopes("visit-3", expected, 1))

        return run

    with pytest.raises(ConcurrencyError) as refused:
        await store.one_statement(work(0))  # visit-3 is at 1
    assert (refused.value.stream_id, refused.value.expected_version) == ("visit-3", 0)
    assert refused.value.actual_version == 1
    assert await versions(store, "counter-3", "visit-3") == [0, 1]
    notes = await store.read_rows("SELECT note FROM joined_side")
    assert notes == []
    assert await store.one_statement(work(1)) == 2
    assert await versions(store, "counter-3", "visit-3") == [1, 2]
    assert [r["note"] for r in await store.read_rows("SELECT note FROM joined_side")] == ["at 1"]
