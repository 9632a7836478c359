"""Claiming an ``Idempotency-Key`` by inserting its row (issue 19: one round trip, not a lock and a
look-up), on real PostgreSQL: what the advisory lock gave must still hold.

- a concurrent request with the same key waits for the first and then replays its result;
- a first request that rolls back leaves the key free;
- a row committed without a result (a refused vault registration records none) is taken over;
- another body is a 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from fastapi import HTTPException

from shared.idempotency import AlreadyCreated, Create
from shared.migrations import apply_migrations

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        database_url, min_size=2, max_size=4, server_settings={"search_path": "ik"}
    )
    async with pool.acquire() as conn:
        await apply_migrations(conn, "ik", None)
    yield pool
    await pool.close()


def create(digest: bytes, fingerprint: bytes = b"body-1") -> Create:
    return Create("complaint", "b001", "POST /branches/{branch_id}/complaints", digest, fingerprint, AT)


async def test_the_claim_waits_for_the_first_request_and_replays_it(pool: asyncpg.Pool) -> None:
    key = create(b"k" * 32)
    first_claimed, first_may_commit = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await key.claim(conn)
            first_claimed.set()
            await first_may_commit.wait()
            await key.record(conn, "case-1", 201)

    async def second() -> AlreadyCreated:
        await first_claimed.wait()
        async with pool.acquire() as conn, conn.transaction():
            with pytest.raises(AlreadyCreated) as replayed:
                await key.claim(conn)  # waits on the first's row until it commits
            return replayed.value

    running = asyncio.gather(first(), second())
    await first_claimed.wait()
    await asyncio.sleep(0.2)
    first_may_commit.set()
    _, done = await running
    assert (done.resource_id, done.status) == ("case-1", 201)

    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(HTTPException) as other:
            await create(b"k" * 32, b"body-2").claim(conn)
    assert other.value.status_code == 422


async def test_a_rolled_back_or_unrecorded_claim_leaves_the_key_free(pool: asyncpg.Pool) -> None:
    key = create(b"r" * 32)
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await key.claim(conn)
                raise RuntimeError("refused: rolls back")
        async with conn.transaction():
            await key.claim(conn)  # free again; committed without a result (a refused registration)
        async with conn.transaction():
            await key.claim(conn, resource_id="cust_ref_1", status=201)  # taken over
        with pytest.raises(AlreadyCreated) as replayed:
            async with conn.transaction():
                await key.claim(conn)
        rows = await conn.fetch("SELECT resource_id, status FROM idempotency_keys")
    assert (replayed.value.resource_id, replayed.value.status) == ("cust_ref_1", 201)
    assert [tuple(r) for r in rows] == [("cust_ref_1", 201)]
