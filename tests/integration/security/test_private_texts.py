"""The private-text store on real PostgreSQL, and the relay's view of events recorded before v2.

- a text is encrypted under its owner's data key (the customer, else the branch), readable by its
  service only, unreadable once the customer is erased (crypto-shredding; idempotent), and a text
  that does not authenticate (moved to another row, another key) reads as erased, never garbage;
- a master-key rotation rewraps the data keys and every text stays readable;
- an event stored with raw text by an older version leaves the store upcast — in ``read_stream``
  and in ``read_all_after``, which is what the outbox relay publishes on a re-publication.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from shared.contracts import complaint as _complaint_events  # noqa: F401  (registers them)
from shared.crypto import MasterKeyring
from shared.eventstore import LOG_START, EventStore, StoredEvent
from shared.migrations import apply_migrations
from shared.registry import REGISTRY
from shared.texts import PrivateTexts
from tests.support.events import make_envelope
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REF = "cust_ref_0042"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4, server_settings={"search_path": "tx"}
    )
    async with pool.acquire() as conn:
        await apply_migrations(conn, "tx", None)
    yield pool
    await pool.close()


def ring(key_id: str = "mk1") -> MasterKeyring:
    return MasterKeyring.single(key_id, os.urandom(32))


async def test_texts_are_kept_per_owner_and_shredded_with_the_customer(pool: asyncpg.Pool) -> None:
    texts = PrivateTexts("complaint", ring())
    batch = texts.batch()
    about_customer = batch.require("客户说卡号 6222 0212 3456 7890 被多扣")
    empty = batch.add("   ")
    async with pool.acquire() as conn, conn.transaction():
        await batch.save(conn, branch_id="b001", customer_ref=REF)
    branch_batch = texts.batch()
    about_nobody = branch_batch.require("queue machine jammed")
    async with pool.acquire() as conn, conn.transaction():
        await branch_batch.save(conn, branch_id="b001", customer_ref=None)
        raw = await conn.fetch("SELECT owner, ciphertext FROM private_texts ORDER BY owner")
        found = await texts.resolve(conn, [about_customer.text_id, about_nobody.text_id])  # type: ignore[list-item]

    assert empty is None and about_customer.length == len("客户说卡号 6222 0212 3456 7890 被多扣")
    assert [r["owner"] for r in raw] == ["branch:b001", f"customer:{REF}"]
    assert all(b"6222" not in r["ciphertext"] and "客户".encode() not in r["ciphertext"] for r in raw)
    assert found[about_customer.text_id].text == "客户说卡号 **** **** **** 7890 被多扣"  # type: ignore[index]
    assert found[about_nobody.text_id].text == "queue machine jammed"  # type: ignore[index]

    async with pool.acquire() as conn, conn.transaction():
        assert await texts.erase_customer(conn, REF) == 1
        assert await texts.erase_customer(conn, REF) == 0  # idempotent
        after = await texts.resolve(conn, [about_customer.text_id, about_nobody.text_id])  # type: ignore[list-item]
        key = await conn.fetchrow(
            "SELECT wrapped_key, erased_at FROM text_keys WHERE owner = $1", f"customer:{REF}"
        )
    assert after[about_customer.text_id].erased and after[about_nobody.text_id].text == "queue machine jammed"  # type: ignore[index]
    assert key is not None and key["wrapped_key"] is None and key["erased_at"] is not None

    # a later text about the same customer gets a fresh key; the erased one stays unreadable
    later = texts.batch()
    new = later.require("a new note after the erasure")
    async with pool.acquire() as conn, conn.transaction():
        await later.save(conn, branch_id="b001", customer_ref=REF)
        again = await texts.resolve(conn, [about_customer.text_id, new.text_id])  # type: ignore[list-item]
    assert again[about_customer.text_id].erased and again[new.text_id].text == "a new note after the erasure"  # type: ignore[index]


async def test_a_moved_ciphertext_reads_as_erased_and_a_rotation_keeps_texts_readable(
    pool: asyncpg.Pool,
) -> None:
    old = ring("mk1")
    texts = PrivateTexts("followup", old)
    batch = texts.batch()
    first, second = batch.require("first words"), batch.require("second words")
    async with pool.acquire() as conn, conn.transaction():
        await batch.save(conn, branch_id="b001", customer_ref=REF)
        # a ciphertext copied onto another text's row does not authenticate there
        await conn.execute(
            "UPDATE private_texts SET ciphertext = (SELECT ciphertext FROM private_texts WHERE text_id = $1) "
            "WHERE text_id = $2",
            first.text_id,
            second.text_id,
        )
        moved = await texts.resolve(conn, [first.text_id, second.text_id])  # type: ignore[list-item]
    assert moved[first.text_id].text == "first words" and moved[second.text_id].erased  # type: ignore[index]

    rotated = PrivateTexts("followup", old.with_current("mk2", os.urandom(32)))
    async with pool.acquire() as conn, conn.transaction():
        assert await rotated.rewrap_keys(conn) == 1
        assert await rotated.rewrap_keys(conn) == 0
        ids = [r[0] for r in await conn.fetch("SELECT DISTINCT master_key_id FROM text_keys")]
    only_new = PrivateTexts("followup", MasterKeyring("mk2", {"mk2": rotated.keyring.key("mk2")}))
    async with pool.acquire() as conn:
        readable = await only_new.resolve(conn, [first.text_id])  # type: ignore[list-item]
    assert ids == ["mk2"] and readable[first.text_id].text == "first words"  # type: ignore[index]


async def test_events_stored_with_raw_text_leave_the_store_upcast(pool: asyncpg.Pool) -> None:
    """What the relay republishes after a lost topic carries no text recorded before v2."""
    store = EventStore(pool, channel="bc_events_tx", registry=REGISTRY)
    words = "客户王小明 手机13800000000"  # obviously synthetic
    old = make_envelope(
        f"complaint-{uuid4()}",
        1,
        type="ProgressUpdateGiven",
        data={"complaint_id": str(uuid4()), "note": words, "at": T0.isoformat()},
        schema_version=1,
    )
    async with pool.acquire() as conn:
        await store.append(old.stream_id, 0, [old], conn)  # as a version before issue 15 wrote it
        stored = await conn.fetchval("SELECT data::text FROM events WHERE event_id = $1", old.event_id)
    assert "王小明" in stored  # the row itself stays as it was written (events are never rewritten)

    async def relayed() -> list[StoredEvent]:
        # readable once every older transaction of the server has ended (the store's horizon)
        published = await store.read_all_after(LOG_START)
        return [e for e in published if json.loads(e.json)["event_id"] == str(old.event_id)]

    (event,) = await wait_until(relayed, timeout=20)
    assert "王小明" not in event.json and "13800000000" not in event.json
    envelope = json.loads(event.json)
    assert envelope["schema_version"] == 2 and envelope["data"]["note"]["withheld"] is True
    (read,) = await store.read_stream(old.stream_id)
    assert read.schema_version == 2 and read.data["note"]["withheld"] is True
