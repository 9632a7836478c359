"""``python -m bench.hqfeed_freshness [--rate 100] [--seconds 10] [--linger-ms 20,1000]``: HQ's
freshness through the contract.

Branch events (``ComplaintReceived``, as the complaint service's relay publishes them when a command
is accepted) are put on ``complaint.events.v1`` at ``--rate`` per second over 50 branches; the real
``hqfeed`` and ``hq`` processes run in between. Freshness of an event = the moment HQ's read model
shows it − the moment it was published, polled every 10 ms, two ways: **the case** (its row in
``complaints``: the per-case facts, published within ``HQFEED_CASE_LINGER_MS`` of folding) and **the
KPI count** (``complaints_received``, what ``GET /hq/branches/{b}`` reads: one KPI delta per branch
per ``HQFEED_WINDOW_SECONDS``).

Each ``--linger-ms`` value (none: the service's default) is a run of its own (fresh services, same
broker and database), one after the other, so two settings are compared under the same load; a
linger of at least the window (1,000 ms) is the aggregator before case records were split from the
KPI window. Also printed per run: where the case's time went, hop by hop (:mod:`bench.hops`), the
CPU time of each process per event and HQ's input (the aggregator's contract records, by type).
Short by design (about 30 s per run with start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx

from bench import hops
from bench.infra import Infra, infrastructure
from bench.stats import percentile
from services.simulator.envelopes import EnvelopeFactory, producer
from shared.contracts.refs import synthetic_ref
from tests.support.services import ServiceProcess, running_services

BRANCHES = 50
KPIS = "SELECT branch_id, complaints_received FROM branch_complaints WHERE branch_id = ANY($1)"
CASES = "SELECT complaint_id FROM complaints WHERE complaint_id = ANY($1::uuid[])"
ENV = {
    "LOG_LEVEL": "WARNING",
    "BRANCHCARE_DEV_MODE": "1",
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "2000",
}


def cpu_seconds(pid: int | None) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def line(name: str, samples: list[float]) -> str:
    if not samples:
        return f"  {name}: nothing seen"
    samples = sorted(samples)
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    return f"  {name}: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {samples[-1] * 1000:.0f} ms ({len(samples)})"


async def one_run(infra: Infra, rate: float, seconds: float, linger_ms: float | None) -> None:
    env = dict(ENV) if linger_ms is None else {**ENV, "HQFEED_CASE_LINGER_MS": f"{linger_ms:g}"}
    procs = [
        ServiceProcess(
            n, database_url=infra.database_url, kafka_bootstrap_servers=infra.bootstrap_servers, env=env
        )
        for n in ("hqfeed", "hq")
    ]
    async with running_services(*procs, timeout=90):
        run = uuid.uuid4().hex[:6]
        branches = [f"fresh-{run}-{i}" for i in range(BRANCHES)]
        factory = EnvelopeFactory()
        sent: dict[str, list[float]] = {b: [] for b in branches}
        seen: dict[str, int] = dict.fromkeys(branches, 0)
        cases: dict[str, float] = {}  # complaint id → published at (until seen)
        kpi_samples: list[float] = []
        case_samples: list[float] = []
        shown: dict[str, float] = {}  # complaint id → seen at HQ (wall clock), measured ones
        measuring = False
        prod = producer(infra.bootstrap_servers, linger_ms=1)
        await prod.start()
        conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": "hq"})
        done = asyncio.Event()

        async def poll() -> None:
            while not done.is_set() or sum(seen.values()) < sum(map(len, sent.values())) or cases:
                rows = await conn.fetch(KPIS, branches)
                now = time.perf_counter()
                for r in rows:
                    b, n = r["branch_id"], int(r["complaints_received"])
                    for k in range(seen[b], min(n, len(sent[b]))):
                        if measuring:
                            kpi_samples.append(now - sent[b][k])
                    seen[b] = max(seen[b], min(n, len(sent[b])))
                if cases:
                    found = await conn.fetch(CASES, list(cases))
                    now = time.perf_counter()
                    for r in found:
                        at = cases.pop(str(r["complaint_id"]))
                        if measuring:
                            case_samples.append(now - at)
                            shown[str(r["complaint_id"])] = time.time()
                await asyncio.sleep(0.01)

        poller = asyncio.create_task(poll())
        # warm-up: one event per branch, wait until HQ shows them (group joins, topic metadata)
        start = time.perf_counter()
        since = time.time()
        cpu: dict[str, float] = {}
        for i in range(int(rate * seconds) + BRANCHES):
            if i == BRANCHES:
                while sum(seen.values()) < BRANCHES or cases:  # noqa: ASYNC110  (the poller fills it)
                    await asyncio.sleep(0.05)
                measuring = True
                since = time.time()
                cpu = {p.name: cpu_seconds(p.pid) for p in procs}
                start = time.perf_counter()
            b = branches[i % BRANCHES]
            made = factory.complaint(
                b, datetime.now(UTC), customer_ref=synthetic_ref(f"fresh-{run}-{i}"), steps="received"
            )[0]
            if i >= BRANCHES:
                await asyncio.sleep(max(0.0, start + (i - BRANCHES) / rate - time.perf_counter()))
            at = time.perf_counter()
            sent[b].append(at)
            cases[str(made.envelope.data["complaint_id"])] = at
            await prod.send(made.topic, made.envelope.model_dump_json().encode(), key=b.encode())
        done.set()
        await asyncio.wait_for(poller, timeout=60)
        used = {p.name: cpu_seconds(p.pid) - cpu[p.name] for p in procs}
        batches = await hq_batches(procs[1].url)
        await prod.stop()
        events = int(rate * seconds)
        rows = await conn.fetch(
            """SELECT type, count(*) AS n, sum(octet_length(data::text)) AS bytes FROM hqfeed.events
               WHERE branch_id LIKE $1 GROUP BY type ORDER BY type""",
            f"fresh-{run}-%",
        )
        await conn.close()
        linger = "the default linger" if linger_ms is None else f"linger {linger_ms:g} ms"
        print(f"HQ freshness through hqfeed, {linger}, {rate:.0f} events/s, {seconds:.0f} s:")
        print(line("the case (complaints)", case_samples))
        print(line("the KPI count (branch_complaints)", kpi_samples))
        stamps = await hops.collect(
            infra.database_url,
            infra.bootstrap_servers,
            branch_prefix=f"fresh-{run}-",
            since=since,
            shown=shown,
            recorded_in_complaint_store=False,  # the bench is the producer: from its record's time
        )
        print("  per hop of the case (bench.hops):")
        for row in stamps.lines()[1:]:
            print("  " + row)
        print("  CPU per event: " + ", ".join(f"{n} {s * 1000 / events:.2f} ms" for n, s in used.items()))
        print(f"  HQ batches (warm-up included): {batches}")
        print(
            "  HQ input (warm-up included): "
            + ", ".join(f"{r['type']} {r['n']} ({r['bytes'] / r['n']:.0f} B)" for r in rows)
        )


async def hq_batches(url: str) -> str:
    """HQ's batches from its metrics: how many, records and apply + commit time per batch."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    values: dict[str, float] = {}
    for row in text.splitlines():
        name, _, value = row.partition(" ")
        if name in (
            "branchcare_hq_batch_seconds_sum",
            "branchcare_hq_batch_seconds_count",
            "branchcare_hq_batch_records_sum",
        ):
            values[name] = float(value)
    n = values.get("branchcare_hq_batch_seconds_count", 0.0)
    if not n:
        return "none"
    seconds = values["branchcare_hq_batch_seconds_sum"] / n * 1000
    records = values.get("branchcare_hq_batch_records_sum", 0.0) / n
    return f"{n:.0f}, {records:.1f} records and {seconds:.1f} ms (apply + offset commit) each"


async def main(rate: float, seconds: float, lingers: list[float | None]) -> None:
    async with infrastructure([]) as infra:
        for linger in lingers:
            await one_run(infra, rate, seconds, linger)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--linger-ms",
        default="",
        help="comma-separated HQFEED_CASE_LINGER_MS values, one run each (default: the service's)",
    )
    args = parser.parse_args()
    lingers = [float(x) for x in args.linger_ms.split(",") if x] or [None]
    asyncio.run(main(args.rate, args.seconds, lingers))
