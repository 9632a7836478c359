"""``python -m bench.hqfeed [--branches 20] [--visits 120] [--linger-ms 20]``: HQ's input and rebuild,
contract vs raw.

Figures for issue 16, from the simulator's workload (``branch_traffic``: visits with waits and
breaches, surveys, complaints through their lifecycle, follow-ups) over real PostgreSQL, no broker:

- **HQ's input per branch-day**: messages and bytes of the raw domain events of a branch-day next
  to the contract records the aggregator publishes for it when it runs live — the events arrive at
  their times and the aggregator folds them as the live consumer does: batches of ``--linger-ms``
  (``HQFEED_CASE_LINGER_MS``) publish their case records, KPI deltas are held and merged per
  1-second window (``HQFEED_WINDOW_SECONDS``), so a KPI record covers one branch's events of one
  window (``--linger-ms 1000``: one batch per window, everything together). A branch's records do
  not depend on how many other branches there are (a window holds far fewer than
  ``HQFEED_MAX_BATCH`` events), so the 1,000 and 5,000-branch lines are the per-branch-day figures
  times the branches.
- **HQ's rebuild**: the time to decode and apply the same day into HQ's tables, (a) from the
  contract records (what HQ does now: ``fold_contract`` + one statement per table) and (b) from the
  raw events (what HQ did before: decode, fold with the facts kept in memory — a little kinder to
  the raw path than the old loads from the tables — and the same writes), batches of 20,000 records.
  Per branch-day times scale linearly with branches; the 5,000-branch line is extrapolated. Each
  rebuild runs three times, alternating, and the best of each is printed (the machine is shared).

Short by design (about a minute at the defaults). Needs ``DATABASE_URL`` or a PostgreSQL at
127.0.0.1:5432 on which it may create and drop a database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path

import asyncpg

from services.hq.config import load_config
from services.hq.consumer import ValidatingRegistry
from services.hq.projections.changes import HqChanges, fold_contract
from services.hq.projections.tables import READ_MODEL_TABLES, write_changes
from services.hqfeed.config import FeedConfig
from services.hqfeed.facts import FoldSettings
from services.hqfeed.fold import fold_batch
from services.hqfeed.projection import HqFeed
from services.simulator.envelopes import EnvelopeFactory, branch_traffic, interleave
from shared.clock import FixedClock
from shared.devstack import drop_database, ensure_database
from shared.envelope import Envelope
from shared.eventstore import LOG_START, EventStore
from shared.migrations import apply_migrations
from shared.registry import REGISTRY
from shared.sla.policy import PolicyBook

ROOT = Path(__file__).resolve().parents[1]
REBUILD_BATCH = 20_000
WINDOW = timedelta(seconds=1)


@lru_cache(maxsize=10_000)
def tz_of(branch_id: str) -> tzinfo:
    return PolicyBook.load().calendar(branch_id).tz


async def _pool(url: str, schema: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, server_settings={"search_path": schema})
    async with pool.acquire() as conn:
        await apply_migrations(conn, schema, ROOT / "services" / schema / "migrations")
    return pool


def day_of_traffic(branches: int, visits: int, seed: int) -> list[Envelope]:
    rng = random.Random(seed)
    factory = EnvelopeFactory()
    t0 = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=1)
    run = uuid.uuid4().hex[:6]
    traffic = [
        branch_traffic(factory, f"r0{i % 3}-{run}-{i}", t0, rng=rng, visits=visits) for i in range(branches)
    ]
    events = [m.envelope for m in interleave(traffic)]
    events.sort(key=lambda e: e.occurred_at)  # as they happen
    return events


def windows(events: Sequence[Envelope], linger: timedelta) -> list[tuple[list[Envelope], bool]]:
    """The live consumer's batches in event time: (batch, the window closes after it). A batch
    lingers ``linger`` after its first event; a window closes ``WINDOW`` after its first event."""
    out: list[tuple[list[Envelope], bool]] = []
    window: datetime | None = None
    batch: datetime | None = None
    for env in events:
        if window is not None and env.occurred_at - window >= WINDOW:
            out[-1] = (out[-1][0], True)
            window = batch = None
        elif batch is not None and env.occurred_at - batch >= linger:
            batch = None
        if window is None:
            window = env.occurred_at
        if batch is None:
            out.append(([], False))
            batch = env.occurred_at
        out[-1][0].append(env)
    if out:
        out[-1] = (out[-1][0], True)
    return out


async def aggregate_live(url: str, events: Sequence[Envelope], linger: timedelta) -> list[bytes]:
    """The aggregator as the live consumer runs it: case records per batch of ``linger``, KPI
    deltas held until the window closes (a linger of a whole window: one batch per window)."""
    pool = await _pool(url, "hqfeed")
    try:
        store = EventStore(pool, channel="bc_events_hqfeed")
        feed = HqFeed(store=store, tz_of=tz_of, clock=FixedClock(datetime.now(UTC)))
        feed.hold_kpis = linger < WINDOW
        for batch, closes in windows(events, linger):
            async with pool.acquire() as conn, conn.transaction():
                await feed.apply(conn, batch)
                if closes and feed.hold_kpis:
                    await feed.flush(conn)
        async with pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM events")
        # what the relay publishes: the stored JSON, in log order (read_all_after waits for every
        # transaction in flight on the server, so it may return nothing for a moment)
        out: list[bytes] = []
        after = LOG_START
        while len(out) < total:
            rows = await store.read_all_after(after, limit=5000)
            if not rows:
                await asyncio.sleep(0.05)
                continue
            out += [r.json.encode() for r in rows]
            after = rows[-1].log_position
        return out
    finally:
        await pool.close()


#: what HQ's runner decodes with (the old raw path had the same fast path, ``HqRunner``)
_REGISTRY = ValidatingRegistry(REGISTRY)


def _decode(raw: Sequence[bytes]) -> list[Envelope]:
    return [_REGISTRY.upcast(Envelope.model_validate_json(b)) for b in raw]


async def _empty(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")


async def rebuild_from_contract(url: str, records: Sequence[bytes]) -> float:
    pool = await _pool(url, "hq")
    config = load_config()
    slot = timedelta(minutes=config.crisis_slot_minutes)
    try:
        await _empty(pool)
        started = time.perf_counter()
        for i in range(0, len(records), REBUILD_BATCH):
            envs = _decode(records[i : i + REBUILD_BATCH])
            async with pool.acquire() as conn, conn.transaction():
                await write_changes(conn, fold_contract(envs, slot=slot))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def rebuild_from_raw(url: str, records: Sequence[bytes]) -> float:
    pool = await _pool(url, "hq")
    config = load_config()
    settings = FoldSettings(slot=timedelta(minutes=config.crisis_slot_minutes))
    try:
        await _empty(pool)
        started = time.perf_counter()
        facts: dict = {}  # type: ignore[type-arg]
        open_breaches: set[tuple[str, str]] = set()
        for i in range(0, len(records), REBUILD_BATCH):
            envs = _decode(records[i : i + REBUILD_BATCH])
            c = fold_batch(envs, facts=facts, open_breaches=open_breaches, tz_of=tz_of, settings=settings)
            open_breaches = (open_breaches - c.breaches_deleted) | set(c.breaches_added)
            async with pool.acquire() as conn, conn.transaction():
                await write_changes(conn, HqChanges.from_fold(c))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def main(branches: int, visits: int, linger_ms: float) -> None:
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    names = [f"bc_bench_hqfeed_{uuid.uuid4().hex[:8]}_{i}" for i in range(3)]
    urls = [await ensure_database(server, n) for n in names]
    try:
        events = day_of_traffic(branches, visits, seed=16)
        raw = [e.model_dump_json().encode() for e in events]
        t = time.perf_counter()
        contract = await aggregate_live(urls[0], events, timedelta(milliseconds=linger_ms))
        aggregate_s = time.perf_counter() - t
        per = 1 / branches
        print(
            f"simulator workload: {branches} branches × {visits} visits (a branch-day), 1 s KPI windows, "
            f"case records every {min(linger_ms, 1000):g} ms"
        )
        print(f"{'':34}{'raw domain events':>20}{'HQ contract':>16}{'ratio':>8}")
        rows = [
            ("messages per branch-day", len(raw) * per, len(contract) * per),
            ("bytes per branch-day", sum(map(len, raw)) * per, sum(map(len, contract)) * per),
        ]
        for n in (1_000, 5_000):
            rows += [
                (f"messages per day, {n:,} branches", len(raw) * per * n, len(contract) * per * n),
                (f"MiB per day, {n:,} branches", sum(map(len, raw)) * per * n / 2**20,
                 sum(map(len, contract)) * per * n / 2**20),
            ]  # fmt: skip
        for label, a, b in rows:
            print(f"{label:34}{a:>20,.0f}{b:>16,.0f}{b / a:>8.2f}")
        kinds = Counter(json.loads(r)["type"] for r in contract)
        print(
            "HQ contract per branch-day, by type: "
            + ", ".join(f"{k} {n * per:,.1f}" for k, n in sorted(kinds.items()))
        )
        print(f"aggregator, live windows: {len(events) / aggregate_s:,.0f} domain events/s")
        # the machine is shared: alternate the two, three times each, and keep each one's best
        contract_times, raw_times = [], []
        for _ in range(3):
            contract_times.append(await rebuild_from_contract(urls[1], contract))
            raw_times.append(await rebuild_from_raw(urls[2], raw))
        from_contract, from_raw = min(contract_times), min(raw_times)
        ratio = from_raw / from_contract
        print(f"HQ rebuild of the day: from the contract {from_contract:.2f} s, "
              f"from raw events {from_raw:.2f} s (raw / contract = {ratio:.2f}x)")  # fmt: skip
        scale = per * 5000
        print(f"HQ rebuild, 5,000 branch-days (extrapolated): from the contract "
              f"{from_contract * scale:.0f} s, from raw events {from_raw * scale:.0f} s")  # fmt: skip
    finally:
        for name in names:
            await drop_database(server, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--visits", type=int, default=120)
    parser.add_argument(
        "--linger-ms",
        type=float,
        default=FeedConfig().case_linger_ms,
        help="HQFEED_CASE_LINGER_MS (1000: one batch per window)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.branches, args.visits, args.linger_ms))
