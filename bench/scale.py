"""``python -m bench scale [--quick]``: HQ over thousands of branches, and the whole system under the
multi-branch simulator, against the raw ceilings measured in the same run.

Two ways of making load:

- **envelopes straight onto the topics** (aiokafka, well-formed envelopes of the four branch
  contexts from ``services.simulator.envelopes``): this measures HQ's side — the branch-side
  aggregator (``hqfeed``) folding them into HQ's contract, and HQ's consumer and read model over
  that contract — not the services that would produce the events. HQ's rebuild reads the contract
  topic, so its rate is in contract records (``python -m bench.hqfeed`` compares it with the raw
  path). Used for 5,000 branches' history
  (catch-up, query latency, rebuild) and for freshness at a paced ~1,000 events/s.
- **the simulator over HTTP** (reception, complaint, follow-up, feedback, HQ as processes): the
  whole system; events/s are what the services append and what reaches HQ's read model.

Freshness = from an event's recorded time (its planned publish time, open loop) to HQ's read model
showing it: a watcher polls HQ's per-branch event counts of 50 probe branches every ~3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import ceilings
from bench.infra import Infra, infrastructure
from bench.stats import Report, fmt, percentile, progress
from services.simulator.client import Api, Stats
from services.simulator.engine import SimConfig, Simulation
from services.simulator.envelopes import (
    TOPIC_OF,
    EnvelopeFactory,
    Made,
    branch_traffic,
    interleave,
    producer,
    publish,
)
from shared.envelope import Envelope
from tests.support.auth import admin, hq_analyst
from tests.support.services import ServiceProcess, running_services

SECTION = "5. scale: HQ over many branches"
SYSTEM = "6. scale: the whole system under the simulator"
RATIOS = "7. scale: ratios and targets"
TOPICS = sorted(set(TOPIC_OF.values()))
SHANGHAI = ZoneInfo("Asia/Shanghai")
HQ_ENV = {
    "BRANCHCARE_DEV_MODE": "1",  # development keys; the bench's tokens are signed to match
    "LOG_LEVEL": "WARNING",
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "HQ_METRICS_REFRESH_SECONDS": "5",
    "HQ_GENERATION_POLL_SECONDS": "0.5",
}
SERVICE_ENV = HQ_ENV
QUERY_SORTS = (
    "visits",
    "p90_wait_seconds",
    "satisfaction_rate",
    "sla_compliance",
    "fcr_rate",
    "complaints_received",
)


@dataclass(frozen=True)
class ScalePlan:
    seconds: float  # per raw ceiling measurement
    history_branches: int
    history_visits: int
    fresh_branches: int
    fresh_rate: float
    fresh_seconds: float
    probes: int
    queries: int
    sim_branches: tuple[int, ...]
    sim_seconds: float


FULL = ScalePlan(5, 5000, 6, 1000, 1000, 20, 50, 300, (1000, 5000), 20)
QUICK = ScalePlan(1, 5000, 2, 1000, 1000, 8, 30, 60, (1000,), 8)


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process (MiB), from /proc."""
    if pid is None:
        return math.nan
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (s), from /proc."""
    if pid is None:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


def processes_cpu(name_prefix: str, parent: int | None = None) -> float:
    """CPU seconds so far of every process whose name starts with ``name_prefix`` (and, if given,
    whose parent is ``parent``): e.g. all PostgreSQL backends, or the broker this bench started."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text.rsplit(")", 1)[1].split()
        if name.startswith(name_prefix) and (parent is None or int(fields[1]) == parent):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def generate(branches: list[str], start: datetime, visits: int, seed: int) -> list[Made]:
    """A plausible slice of every branch's day, interleaved across branches."""
    rng = random.Random(seed)
    factory = EnvelopeFactory()
    return list(interleave([branch_traffic(factory, b, start, rng=rng, visits=visits) for b in branches]))


async def publish_fast(bootstrap: str, items: list[Made]) -> float:
    """Publish everything as fast as the producer goes; returns messages/s."""
    prod = producer(bootstrap, linger_ms=5)
    await prod.start()
    started = time.perf_counter()
    try:
        for i in range(0, len(items), 20_000):
            await publish(prod, items[i : i + 20_000])
    finally:
        await prod.stop()
    return len(items) / (time.perf_counter() - started)


async def hq_count(conn: asyncpg.Connection, branches: list[str] | None = None) -> int:
    if branches is None:
        value = await conn.fetchval("SELECT coalesce(sum(events), 0) FROM hq.branch_day")
    else:
        value = await conn.fetchval(
            "SELECT coalesce(sum(events), 0) FROM hq.branch_day WHERE branch_id = ANY($1::text[])", branches
        )
    return int(value)


async def wait_for_count(conn: asyncpg.Connection, expected: int, timeout: float) -> float:
    """Poll until HQ counted ``expected`` events; returns when (monotonic), or NaN on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await hq_count(conn) >= expected:
            return time.monotonic()
        await asyncio.sleep(0.05)
    return math.nan


# ------------------------------------------------------------------------------ raw ceilings


async def raw_consume(report: Report, bootstrap: str) -> float:
    """aiokafka reading the four branch topics from the beginning to their end, nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in TOPICS for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total = sum(ends.values())
        seen = 0
        sample: list[bytes] = []
        started = time.perf_counter()
        while seen < total:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                seen += len(records)
                if len(sample) < 20_000:
                    sample += [r.value for r in records[: 20_000 - len(sample)] if r.value]
        rate = seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
    report.add(
        ceilings.SECTION, "kafka consume (4 topics, no processing)", rate, "msg/s", f"{seen:,} records"
    )
    started = time.perf_counter()
    for raw in sample:
        Envelope.model_validate_json(raw)
    decode = len(sample) / (time.perf_counter() - started) if sample else math.nan
    report.add(ceilings.SECTION, "envelope JSON decode + validate, 1 core", decode, "msg/s")
    return rate


# ------------------------------------------------------------------------------ HQ phases


async def history(report: Report, infra: Infra, conn: asyncpg.Connection, plan: ScalePlan, run: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    branches = [f"r{(i % 20) + 1:02d}-h{run}-{i:05d}" for i in range(plan.history_branches)]
    progress(f"generating {plan.history_branches:,} branches' history")
    t = time.perf_counter()
    items = generate(branches, start, plan.history_visits, seed=11)
    report.add(
        SECTION,
        "envelopes generated (Python, pydantic)",
        len(items) / (time.perf_counter() - t),
        "msg/s",
        f"{len(items):,} events for {len(branches):,} branches",
    )
    before = await hq_count(conn)
    progress(f"publishing {len(items):,} events straight onto the topics")
    started = time.monotonic()
    produce = await publish_fast(infra.bootstrap_servers, items)
    report.add(SECTION, "history published (aiokafka)", produce, "msg/s")
    done = await wait_for_count(conn, before + len(items), timeout=600)
    report.add(
        SECTION,
        f"HQ live catch-up, {len(branches):,} branches",
        len(items) / (done - started),
        "events/s",
        "publish start → all in HQ's read model",
    )


async def queries(report: Report, hq_url: str, plan: ScalePlan, branches_total: int) -> None:
    today = datetime.now(SHANGHAI).date()
    period = {"date_from": str(today - timedelta(days=1)), "date_to": str(today)}
    latencies: list[float] = []
    region_latencies: list[float] = []
    detail: list[float] = []
    async with httpx.AsyncClient(base_url=hq_url, timeout=30, headers=hq_analyst("bench")) as http:
        first = await http.get("/hq/branches", params={"sort": "visits", "limit": 1, **period})
        ranked = first.json()["total"]
        sample = (await http.get("/hq/branches", params={"sort": "visits", "limit": 100, **period})).json()
        names = [b["branch_id"] for b in sample["branches"]]
        for i in range(plan.queries):
            params = {"sort": QUERY_SORTS[i % len(QUERY_SORTS)], "limit": 50, **period}
            t = time.perf_counter()
            r = await http.get("/hq/branches", params=params)
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            t = time.perf_counter()
            await http.get("/hq/branches", params={**params, "region": f"r{(i % 20) + 1:02d}"})
            region_latencies.append(time.perf_counter() - t)
            if names:
                t = time.perf_counter()
                await http.get(f"/hq/branches/{names[i % len(names)]}", params=period)
                detail.append(time.perf_counter() - t)
    note = f"{ranked:,} branches ranked, {plan.queries} requests, httpx client"
    report.add(SECTION, "GET /hq/branches?sort=… p50", percentile(latencies, 50) * 1000, "ms", note)
    report.add(SECTION, "GET /hq/branches?sort=… p99", percentile(latencies, 99) * 1000, "ms")
    report.add(SECTION, "  with region=… p99", percentile(region_latencies, 99) * 1000, "ms")
    report.add(SECTION, "GET /hq/branches/{b} p99", percentile(detail, 99) * 1000, "ms")


@dataclass
class Probe:
    planned: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    polls: int = 0


async def freshness(report: Report, infra: Infra, plan: ScalePlan, run: str) -> None:
    """Publish at a steady rate (open loop) and time when HQ shows each probe branch's events."""
    branches = [f"r{(i % 20) + 1:02d}-f{run}-{i:05d}" for i in range(plan.fresh_branches)]
    probes = branches[: plan.probes]
    total = int(plan.fresh_rate * plan.fresh_seconds)
    visits = max(1, math.ceil(total / len(branches) / 8))
    items = generate(branches, datetime.now(UTC) - timedelta(hours=1), visits, seed=5)[:total]
    total = len(items)
    prod = producer(infra.bootstrap_servers, linger_ms=2)
    await prod.start()
    probe = Probe()
    stop = asyncio.Event()

    async def watch() -> None:
        conn = await asyncpg.connect(infra.database_url)
        try:
            query = await conn.prepare(
                "SELECT branch_id, sum(events)::int8 AS n FROM hq.branch_day "
                "WHERE branch_id = ANY($1::text[]) GROUP BY branch_id"
            )
            while not stop.is_set():
                rows = await query.fetch(probes)
                now = time.monotonic()
                probe.polls += 1
                for row in rows:
                    times = probe.seen[row["branch_id"]]
                    times.extend([now] * (row["n"] - len(times)))
                await asyncio.sleep(0.003)
        finally:
            await conn.close()

    watcher = asyncio.create_task(watch())
    progress(f"freshness: {total:,} events at {plan.fresh_rate:,.0f}/s over {len(branches):,} branches")
    probe_set = set(probes)
    start = time.monotonic() + 0.1
    pending = []
    try:
        for i, item in enumerate(items):
            due = start + i / plan.fresh_rate
            delay = due - time.monotonic()
            if delay > 0.002:
                await asyncio.sleep(delay)
            recorded = datetime.now(UTC) + timedelta(seconds=due - time.monotonic())
            env = item.envelope.model_copy(update={"recorded_at": recorded})
            if env.branch_id in probe_set:
                probe.planned[env.branch_id].append(due)
            pending.append(
                await prod.send(item.topic, env.model_dump_json().encode(), key=env.branch_id.encode())
            )
        await asyncio.gather(*pending)
        sent_span = time.monotonic() - start
        deadline = time.monotonic() + 60
        expected = sum(len(v) for v in probe.planned.values())
        while sum(min(len(probe.seen[b]), len(probe.planned[b])) for b in probes) < expected:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await watcher
        await prod.stop()
    lags = [seen - due for b in probes for due, seen in zip(probe.planned[b], probe.seen[b], strict=False)]
    note = f"{len(lags):,} probe events of {len(probes)} branches; watcher polls {probe.polls:,}"
    report.add(
        SECTION, "offered rate (open loop)", total / sent_span, "events/s", f"{len(branches):,} branches"
    )
    report.add(SECTION, "HQ freshness p50", percentile(lags, 50) * 1000, "ms", note)
    report.add(SECTION, "HQ freshness p99", percentile(lags, 99) * 1000, "ms")
    report.add(SECTION, "HQ freshness max", max(lags, default=math.nan) * 1000, "ms")


def _scrape(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def rebuild(report: Report, conn: asyncpg.Connection, hq_url: str) -> float:
    events = await hq_count(conn)
    async with httpx.AsyncClient(base_url=hq_url, timeout=30, headers=admin("bench")) as http:
        before = (await http.get("/metrics")).text
        requested = time.monotonic()
        r = await http.post("/hq/admin/rebuild")
        generation = r.json()["generation"]
        progress(f"rebuilding HQ's read model ({events:,} events) as generation {generation}")
        state: dict = {}
        while time.monotonic() - requested < 900:
            state = (await http.get("/hq/status")).json()
            if state["generation"] == generation and not state["rebuilding"]:
                break
            await asyncio.sleep(0.1)
        wall = time.monotonic() - requested
        after = (await http.get("/metrics")).text
    batches = _scrape(after, "branchcare_hq_batch_records_count") - _scrape(
        before, "branchcare_hq_batch_records_count"
    )
    records = _scrape(after, "branchcare_hq_batch_records_sum") - _scrape(
        before, "branchcare_hq_batch_records_sum"
    )
    seconds = _scrape(after, "branchcare_hq_batch_seconds_sum") - _scrape(
        before, "branchcare_hq_batch_seconds_sum"
    )
    rebuilt = await hq_count(conn)
    rate = float(state.get("records_per_second") or math.nan)
    report.add(
        SECTION,
        "HQ rebuild rate",
        rate,
        "events/s",
        f"{state.get('records', 0):,} records in {state.get('seconds') or math.nan:.1f} s, "
        "first batch → caught up",
    )
    report.add(
        SECTION, "  request → caught up (incl. group join)", rebuilt / wall, "events/s", f"{wall:.1f} s"
    )
    report.add(
        SECTION,
        "  records per batch (mean)",
        records / batches if batches else math.nan,
        "records",
        f"{batches:.0f} batches, {1000 * seconds / batches if batches else math.nan:.0f} ms each",
    )
    report.add(
        SECTION,
        "  rebuilt read model equals the counts before",
        1.0 if rebuilt == events else 0.0,
        "yes" if rebuilt == events else "NO",
        f"{rebuilt:,} vs {events:,} events",
    )
    return rate


# ------------------------------------------------------------------------------ the whole system


async def events_in_services(conn: asyncpg.Connection) -> int:
    total = 0
    for schema in ("reception", "complaint", "followup", "feedback"):
        try:
            total += int(await conn.fetchval(f"SELECT count(*) FROM {schema}.events"))
        except asyncpg.PostgresError:
            pass
    return total


async def system(
    report: Report, infra: Infra, conn: asyncpg.Connection, plan: ScalePlan, hq: ServiceProcess
) -> None:
    procs = [
        ServiceProcess(
            name,
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.bootstrap_servers,
            env=SERVICE_ENV,
        )
        for name in ("reception", "complaint", "followup", "feedback")
    ]
    progress("starting reception, complaint, followup and feedback")
    async with running_services(*procs, timeout=90):
        urls = {p.name: p.url for p in procs} | {"hq": hq.url}
        for branches in plan.sim_branches:
            stats = Stats()
            api = Api(urls, stats=stats, concurrency=48)
            await api.probe_all()
            start = datetime.now(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
            sim = Simulation(
                SimConfig(
                    branches=branches,
                    regions=20,
                    minutes=None,
                    speed=120,
                    start=start,
                    seed=branches,
                    outage_after=1.0,
                ),
                api,
                max_in_flight=96,
            )
            before_sys, before_hq = await events_in_services(conn), await hq_count(conn)
            pids = {p.name: p.pid for p in [*procs, hq]} | {"simulator (bench process)": os.getpid()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            pg_before, broker_before = processes_cpu("postgres"), processes_cpu("tansu", os.getpid())
            busy_before = machine_busy()
            progress(
                f"simulator: {branches:,} branches for {plan.sim_seconds:.0f} s (speed 120, as fast as the "
                "services go)"
            )
            task = asyncio.create_task(sim.run())
            t0 = time.monotonic()
            await asyncio.sleep(plan.sim_seconds)
            sim.stop()
            elapsed = time.monotonic() - t0
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / elapsed for name, pid in pids.items()}
            cpu["postgres (every backend of the server)"] = (processes_cpu("postgres") - pg_before) / elapsed
            cpu["tansu broker"] = (processes_cpu("tansu", os.getpid()) - broker_before) / elapsed
            busy_after = machine_busy()
            busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1)
            await task
            await api.close()
            appended = await events_in_services(conn) - before_sys
            at_hq_now = await hq_count(conn) - before_hq
            drained = time.monotonic()
            target = before_hq + appended
            while time.monotonic() - drained < 60:
                if await hq_count(conn) >= target:
                    break
                await asyncio.sleep(0.05)
            drain = time.monotonic() - drained
            label = f"{branches:,} branches"
            report.add(
                SYSTEM,
                f"{label}: HTTP requests",
                stats.total / elapsed,
                "req/s",
                f"{sum(stats.errors.values())} errors, simulated {sim.simulated_seconds / 60:.0f} min",
            )
            report.add(SYSTEM, f"{label}: events appended by the services", appended / elapsed, "events/s")
            statuses = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses.items()) if code >= 400)
            report.add(
                SYSTEM,
                f"{label}: refused or failed requests",
                sum(stats.errors.values()),
                "requests",
                statuses or "none",
            )
            report.add(
                SYSTEM,
                f"{label}: machine CPU busy",
                100 * busy,
                "%",
                f"{os.cpu_count()} cores, all processes",
            )
            for name, cores in cpu.items():
                report.add(SYSTEM, f"{label}: CPU {name}", cores, "cores")
            report.add(
                SYSTEM,
                f"{label}: events in HQ's read model",
                at_hq_now / elapsed,
                "events/s",
                f"drained {drain:.2f} s after the load stopped",
            )
        for p in [*procs, hq]:
            report.add(SYSTEM, f"memory (RSS) {p.name}", rss_mb(p.pid), "MiB")


# ------------------------------------------------------------------------------ the run


async def main(args: argparse.Namespace) -> Report:
    plan = QUICK if args.quick else FULL
    report = Report()
    run = uuid.uuid4().hex[:4]
    async with infrastructure(["bench.raw.v1"]) as infra:
        if "ceilings" not in args.skip:
            progress("raw ceilings")
            await ceilings.run(
                report,
                infra.database_url,
                infra.bootstrap_servers,
                seconds=plan.seconds,
                tasks=32,
                pool_size=20,
            )
        hq = ServiceProcess(
            "hq", database_url=infra.database_url, kafka_bootstrap_servers=infra.bootstrap_servers, env=HQ_ENV
        )
        feed = ServiceProcess(
            "hqfeed",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.bootstrap_servers,
            env=HQ_ENV,
        )
        progress("starting hqfeed and hq")
        async with running_services(feed, hq, timeout=60):
            conn = await asyncpg.connect(infra.database_url)
            try:
                await history(report, infra, conn, plan, run)
                report.add(SECTION, "memory (RSS) hq after the history", rss_mb(hq.pid), "MiB")
                await queries(report, hq.url, plan, plan.history_branches)
                await freshness(report, infra, plan, run)
                await raw_consume(report, infra.bootstrap_servers)
                await rebuild(report, conn, hq.url)
                report.add(SECTION, "memory (RSS) hq after the rebuild", rss_mb(hq.pid), "MiB")
                if "system" not in args.skip:
                    await system(report, infra, conn, plan, hq)
            finally:
                await conn.close()
    ratios(report, plan)
    return report


def ratios(report: Report, plan: ScalePlan) -> None:
    c = ceilings.SECTION
    rebuild_rate = report.get(SECTION, "HQ rebuild rate")
    consume = report.get(c, "kafka consume (4 topics, no processing)")
    decode = report.get(c, "envelope JSON decode + validate, 1 core")
    copy = report.get(c, "pg COPY")
    single = report.get(c, "pg insert, 1 row/tx, 32 tasks")
    produce = report.get(c, "kafka produce (linger 5 ms, acks=all)")
    catch_up = next((f.value for f in report.figures if f.name.startswith("HQ live catch-up")), math.nan)
    report.add(RATIOS, "HQ rebuild / raw kafka consume", 100 * rebuild_rate / consume, "%")
    report.add(RATIOS, "HQ rebuild / raw envelope decode (1 core)", 100 * rebuild_rate / decode, "%")
    report.add(RATIOS, "HQ rebuild / raw pg COPY rows", 100 * rebuild_rate / copy, "%")
    report.add(RATIOS, "HQ live catch-up / raw kafka produce", 100 * catch_up / produce, "%")
    for f in list(report.figures):
        if f.section == SYSTEM and f.name.endswith("events appended by the services"):
            report.add(
                RATIOS, f"{f.name.split(':')[0]}: appends / raw 1-row inserts", 100 * f.value / single, "%"
            )
    p99_fresh = report.get(SECTION, "HQ freshness p99")
    p99_query = report.get(SECTION, "GET /hq/branches?sort=… p99")
    offered = report.get(SECTION, "offered rate (open loop)")
    checks = [
        (f"HQ freshness p99 ≤ 1 s at ~{offered:,.0f} events/s", p99_fresh <= 1000, f"{fmt(p99_fresh)} ms"),
        (
            f"HQ query p99 ≤ 50 ms over {plan.history_branches:,} branches",
            p99_query <= 50,
            f"{fmt(p99_query)} ms",
        ),
        ("HQ rebuild ≥ 20,000 events/s", rebuild_rate >= 20_000, f"{fmt(rebuild_rate)}/s"),
    ]
    for name, ok, value in checks:
        report.add(RATIOS, f"target: {name}", 1.0 if ok else 0.0, "met" if ok else "MISSED", value)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller history, shorter runs (rough figures)")
    parser.add_argument("--skip", action="append", default=[], choices=["ceilings", "system"])
    return parser.parse_args(argv)


def entry(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    report = asyncio.run(main(args))
    print(report.render())
    rough = ", quick run: rough figures" if args.quick else ""
    print(f"\n(scale total {time.monotonic() - started:.0f} s{rough})")
