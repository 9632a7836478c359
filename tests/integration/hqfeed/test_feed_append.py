"""The aggregator appends a batch's records of every branch in one statement: each branch's stream
continues at its head, and a stale head (another aggregator appended first) is the event store's
ConcurrencyError, with nothing of the batch written (the runner retries it afresh)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.hqfeed.projection import HqFeed, feed_stream
from services.simulator.envelopes import EnvelopeFactory
from shared.clock import FixedClock
from shared.contracts.refs import synthetic_ref
from shared.envelope import Envelope
from shared.eventstore import ConcurrencyError, EventStore
from tests.integration.hqfeed import folds
from tests.support.databases import NewDatabase

pytestmark = pytest.mark.integration


def received(factory: EnvelopeFactory, branch: str, i: int) -> Envelope:
    made = factory.complaint(
        branch, folds.NOW - timedelta(minutes=i), customer_ref=synthetic_ref(f"append-{i}"), steps="received"
    )
    return made[0].envelope


async def test_one_append_per_batch_continues_every_branch_and_refuses_a_stale_head(
    new_database: NewDatabase,
) -> None:
    url = await new_database()
    pool = await folds.connect(url, "hqfeed")
    try:
        store = EventStore(pool, channel="bc_events_hqfeed")
        feed = HqFeed(store=store, tz_of=folds.tz_of, clock=FixedClock(folds.NOW))
        factory = EnvelopeFactory()
        run = uuid.uuid4().hex[:6]
        a, b = f"fa-{run}-a", f"fa-{run}-b"
        for n, batch in enumerate(([a, b, a], [b, a])):
            async with pool.acquire() as conn, conn.transaction():
                await feed.apply(conn, [received(factory, br, 10 * n + i) for i, br in enumerate(batch)])
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT stream_id, stream_version FROM events ORDER BY position")
            heads = dict(await conn.fetch("SELECT stream_id, version FROM feed_streams"))
        for branch in (a, b):
            versions = [r["stream_version"] for r in rows if r["stream_id"] == feed_stream(branch)]
            assert versions == list(range(1, len(versions) + 1))
            assert heads[feed_stream(branch)] == versions[-1]
        # another aggregator appended to a's stream since this one read its head
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE feed_streams SET version = version - 1 WHERE stream_id = $1", feed_stream(a)
            )
        with pytest.raises(ConcurrencyError):
            async with pool.acquire() as conn, conn.transaction():
                await feed.apply(conn, [received(factory, b, 30), received(factory, a, 31)])
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM events") == len(rows)
    finally:
        await pool.close()
