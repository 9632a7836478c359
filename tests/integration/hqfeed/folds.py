"""Two ways to HQ's read model over real PostgreSQL, for the equality and rebuild tests: the folds
under comparison, called directly (no service runs here; services run through tests/support/harness.py).

- :func:`through_contract`: the branch-side aggregator (``HqFeed.apply``) folds the domain events
  batch by batch into its own schema and event store; HQ's projection (``BranchKpis.apply``)
  applies the contract events read back from that store (what the relay puts on
  ``hqfeed.events.v1``), batch by batch, into schema ``hq``.
- :func:`from_raw_events`: what HQ did before the contract — the same fold over the raw domain
  events, its changes written straight into HQ's tables (no contract in between).

Both call the projections' ``apply`` inside a transaction, as the projection runner does (the
runner's Kafka side is covered by tests/integration/hq, which run the real processes).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncpg

from services.hq.config import load_config
from services.hq.patterns import floor_time
from services.hq.projections import BranchKpis
from services.hq.projections.aliases import apply_aliases
from services.hq.projections.changes import HqChanges
from services.hq.projections.tables import READ_MODEL_TABLES, write_changes
from services.hq.regions import Regions
from services.hqfeed.facts import FoldSettings
from services.hqfeed.fold import fold_batch
from services.hqfeed.projection import HqFeed
from shared.clock import FixedClock
from shared.envelope import Envelope
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.sla.policy import PolicyBook

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC).replace(microsecond=0)


@lru_cache(maxsize=10_000)
def tz_of(branch_id: str) -> tzinfo:
    return PolicyBook.load().calendar(branch_id).tz


async def connect(url: str, schema: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, server_settings={"search_path": schema})
    async with pool.acquire() as conn:
        await apply_migrations(conn, schema, ROOT / "services" / schema / "migrations")
    return pool


def batches(events: Sequence[Any], rng: random.Random, largest: int) -> list[list[Any]]:
    out, i = [], 0
    while i < len(events):
        n = rng.randint(1, largest)
        out.append(list(events[i : i + n]))
        i += n
    return out


async def aggregate(
    url: str, events: Sequence[Envelope], rng: random.Random, largest: int, *, window: int = 0
) -> list[Envelope]:
    """The aggregator over ``events`` in random batches; returns its contract events in log order.

    ``window`` > 0: as the live consumer runs it, the batches publish their case records and hold
    their KPI deltas, and a window closes (``flush``) after every 1 to ``window`` batches."""
    pool = await connect(url, "hqfeed")
    try:
        store = EventStore(pool, channel="bc_events_hqfeed")
        feed = HqFeed(store=store, tz_of=tz_of, clock=FixedClock(NOW))
        feed.hold_kpis = window > 0
        chunks = batches(events, rng, largest)
        closes = rng.randint(1, window) if window else 0
        for batch in chunks:
            async with pool.acquire() as conn, conn.transaction():
                await feed.apply(conn, batch)
            closes -= 1
            if window and closes <= 0:
                async with pool.acquire() as conn, conn.transaction():
                    await feed.flush(conn)
                closes = rng.randint(1, window)
        if window:
            async with pool.acquire() as conn, conn.transaction():
                await feed.flush(conn)
        # in store order (one writer here; the relay's reader also waits for other sessions'
        # transactions, which on a shared test server can be anyone's)
        async with pool.acquire() as conn:
            order = await conn.fetch("SELECT stream_id, stream_version FROM events ORDER BY position")
        streams = {r["stream_id"] for r in order}
        by_key = {(e.stream_id, e.stream_version): e for s in streams for e in await store.read_stream(s)}
        out = [by_key[(r["stream_id"], r["stream_version"])] for r in order]
        return out
    finally:
        await pool.close()


def _hq() -> BranchKpis:
    config = load_config()
    return BranchKpis(
        config=config, regions=Regions.load(config.regions_file), store=None, clock=FixedClock(NOW)
    )


async def through_contract(url: str, contract: Sequence[Envelope], rng: random.Random, largest: int) -> None:
    """HQ's projection over the contract events, in random batches."""
    pool = await connect(url, "hq")
    try:
        hq = _hq()
        for batch in batches(contract, rng, largest):
            async with pool.acquire() as conn, conn.transaction():
                await hq.apply(conn, batch)
    finally:
        await pool.close()


async def from_raw_events(url: str, events: Sequence[Envelope]) -> None:
    """HQ's tables as the raw fold makes them (one batch, as a rebuild from raw topics would)."""
    pool = await connect(url, "hq")
    hq = _hq()
    try:
        changes = fold_batch(
            events, facts={}, open_breaches=(), tz_of=tz_of, settings=FoldSettings(slot=hq.alerts.slot)
        )
        c = HqChanges.from_fold(changes)
        async with pool.acquire() as conn, conn.transaction():
            await write_changes(conn, c)
            if c.aliases:
                c.customer_refs |= await apply_aliases(conn, c.aliases)
            if c.slots:
                await hq.alerts.spikes(
                    conn, {(cat, floor_time(slot, hq.alerts.slot)) for cat, slot, _ in c.slots}
                )
            if c.customer_refs:
                await hq.alerts.repeats(conn, c.customer_refs)
    finally:
        await pool.close()


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every HQ read-model table, rows sorted, floats rounded (sums of floats grouped differently
    may differ in the last bits)."""
    conn = await asyncpg.connect(url, server_settings={"search_path": "hq"})
    try:
        out = {}
        for table in READ_MODEL_TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table}")
            out[table] = sorted(
                (tuple(round(v, 6) if isinstance(v, float) else v for v in r.values()) for r in rows),
                key=repr,
            )
        return out
    finally:
        await conn.close()
