"""The text keys a command reads with its stream (issue 19), on real PostgreSQL.

A command carrying a free text no longer looks its owner's data key up in its transaction: the
stream's load reads the wrapped keys of every customer its events name and of its branch
(``shared.texts.STREAM_KEYS``). What erasure promises must not change:

- a text sealed with a key read *before* the customer's erasure is unreadable after it (the key
  row is shredded, and a fresh key does not open it), never readable under the old key;
- a text written after the erasure without a stale key gets a fresh key and is readable;
- a missing key is created by one statement, and one that exists is read without a lock.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from shared.command_values import STREAM_WITH_KEYS_SQL
from shared.crypto import MasterKeyring
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.texts import PrivateTexts
from tests.support.events import TEST_REGISTRY, make_envelope

pytestmark = pytest.mark.integration

REF = "cust_ref_0077"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4, server_settings={"search_path": "tk"}
    )
    async with pool.acquire() as conn:
        await apply_migrations(conn, "tk", None)
    yield pool
    await pool.close()


async def keys_with_stream(pool: asyncpg.Pool, stream_id: str) -> dict[str, bytes]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(STREAM_WITH_KEYS_SQL, stream_id)
    assert row is not None
    return dict(zip(row["key_owners"] or [], row["key_values"] or [], strict=True))


async def test_a_key_read_before_an_erasure_seals_nothing_readable(pool: asyncpg.Pool) -> None:
    texts = PrivateTexts("complaint", MasterKeyring.single("mk1", os.urandom(32)))
    store = EventStore(pool, channel="bc_events_tk", registry=TEST_REGISTRY)
    stream = f"complaint-{uuid4()}"
    first = make_envelope(stream, 1, branch_id="b001", data={"customer_ref": REF})
    await store.append(stream, 0, [first])

    assert await keys_with_stream(pool, stream) == {}  # nobody wrote a text yet
    created = texts.batch()
    before = created.require("the customer's first words")
    async with pool.acquire() as conn, conn.transaction():  # no key: created by one statement
        await created.save(conn, branch_id="b001", customer_ref=REF)
    stale = await keys_with_stream(pool, stream)
    assert list(stale) == [f"customer:{REF}"]

    reused = texts.batch()
    again = reused.require("read with the stream")
    async with pool.acquire() as conn, conn.transaction():
        await reused.save(conn, branch_id="b001", customer_ref=REF, keys=stale)  # no look-up
        shown = await texts.resolve(conn, [before.text_id, again.text_id])  # type: ignore[list-item]
    assert shown[again.text_id].text == "read with the stream"  # type: ignore[index]

    async with pool.acquire() as conn, conn.transaction():
        await texts.erase_customer(conn, REF)
    # a command that loaded its stream (and the key) just before the erasure commits after it
    late = texts.batch()
    sealed_stale = late.require("written with the erased key")
    async with pool.acquire() as conn, conn.transaction():
        await late.save(conn, branch_id="b001", customer_ref=REF, keys=stale)
    assert await keys_with_stream(pool, stream) == {}  # the erased key is not read any more

    fresh = texts.batch()
    after = fresh.require("a new consent's words")
    async with pool.acquire() as conn, conn.transaction():
        await fresh.save(conn, branch_id="b001", customer_ref=REF, keys=await keys_with_stream(pool, stream))
        found = await texts.resolve(
            conn,
            [before.text_id, again.text_id, sealed_stale.text_id, after.text_id],  # type: ignore[list-item]
        )
    assert found[before.text_id].erased and found[again.text_id].erased  # type: ignore[index]
    # the new key does not open it: unreadable, never garbage
    assert found[sealed_stale.text_id].erased  # type: ignore[index]
    assert found[after.text_id].text == "a new consent's words"  # type: ignore[index]
    assert list(await keys_with_stream(pool, stream)) == [f"customer:{REF}"]
