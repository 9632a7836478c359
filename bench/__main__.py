"""``python -m bench [--quick] [--skip PART] [--services S,…]``: every measurement once, progress on
stderr, the figures, ratios, targets and a summary table on stdout (``--html FILE`` also writes them
as a page).

Parts: raw ceilings of this machine; the event store; each service's hottest commands next to a
bare FastAPI + asyncpg reference endpoint with their PostgreSQL round trips; HTTP create → HQ read
model at 100, 300 and 500/s with the real services. Every run is bounded in time (a saturated service
is reported as such, not waited for)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import ceilings, commands, e2e, store
from bench.infra import infrastructure
from bench.stats import Report, fmt, html_page, progress


@dataclass(frozen=True)
class Plan:
    seconds: float  # per throughput measurement
    tasks: int
    pool_size: int
    batch: int
    rates: tuple[float, ...]
    e2e_seconds: float
    warmup: float
    branches: int
    connections: int


FULL = Plan(
    seconds=5,
    tasks=32,
    pool_size=20,
    batch=100,
    rates=(100, 300, 500),
    e2e_seconds=10,
    warmup=3,
    branches=200,
    connections=16,
)
QUICK = Plan(
    seconds=0.5,
    tasks=32,
    pool_size=20,
    batch=100,
    rates=(200,),
    e2e_seconds=2,
    warmup=0.5,
    branches=50,
    connections=8,
)


#: the real complaint service; ``--skeleton`` adds the walking skeleton (the mechanism alone)
REAL = ("services.complaint (deadlines, board, reactions)", "services.complaint")
SKELETON = ("skeleton complaint service (mechanism only)", "bench.skeleton")
PARTS = ["ceilings", "store", "commands", "e2e"]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (figures are rough)")
    parser.add_argument(
        "--rates", help="offered HTTP creates per second end to end, comma-separated (default 100,300,500)"
    )
    parser.add_argument(
        "--e2e-seconds", type=float, help="length of each measured end-to-end run (default 10)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=PARTS, help="leave a part out")
    parser.add_argument("--only", action="append", default=[], choices=PARTS, help="run only these parts")
    parser.add_argument(
        "--services", help="hottest commands of these services only, comma-separated (complaint,reception)"
    )
    parser.add_argument("--skeleton", action="store_true", help="also end to end with the walking skeleton")
    parser.add_argument("--html", help="also write the figures as an HTML page to this file")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator's HTTP client (default: raw)",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> tuple[Report, str]:
    plan = QUICK if args.quick else FULL
    rates = tuple(float(r) for r in args.rates.split(",")) if args.rates else plan.rates
    e2e_seconds = args.e2e_seconds or plan.e2e_seconds
    parts = [p for p in (args.only or PARTS) if p not in args.skip]
    report = Report()
    summary = ""
    async with infrastructure(["bench.raw.v1", "bench.relay.v1", "bench.live.v1"]) as infra:
        if "ceilings" in parts:
            progress("raw ceilings")
            await ceilings.run(
                report,
                infra.database_url,
                infra.bootstrap_servers,
                seconds=plan.seconds,
                tasks=plan.tasks,
                pool_size=plan.pool_size,
            )
        if "store" in parts:
            progress("event store")
            await store.run(
                report,
                infra.database_url,
                infra.bootstrap_servers,
                seconds=plan.seconds,
                tasks=plan.tasks,
                pool_size=plan.pool_size,
                batch=plan.batch,
            )
        if "commands" in parts:
            progress("hottest commands next to the bare reference")
            command_plan = commands.QUICK if args.quick else commands.FULL
            only = [s.strip() for s in (args.services or "").split(",") if s.strip()]
            results = await commands.run(report, infra, command_plan, only=only)
            summary = commands.summary(results, command_plan.rates)
        if "e2e" in parts:
            for label, module in [*([SKELETON] if args.skeleton else []), REAL]:
                progress(f"end to end: {label}")
                await e2e.run(
                    report,
                    infra,
                    label=label,
                    module=module,
                    rates=rates,
                    seconds=e2e_seconds,
                    warmup=plan.warmup,
                    branches=plan.branches,
                    connections=plan.connections,
                    client=args.client,
                )
    targets(report, plan, rates)
    return report, summary


def targets(report: Report, plan: Plan, rates: tuple[float, ...]) -> None:
    """Ratios to the raw ceilings and the targets (issue 19), for the parts that ran."""
    r, c, s, k = "5. ratios and targets", ceilings.SECTION, store.SECTION, commands.SECTION
    single = report.get(s, f"append 1 event/tx, {plan.tasks} tasks")
    raw_single = report.get(c, f"pg insert, 1 row/tx, {plan.tasks} tasks")
    cmds = report.get(s, f"command (load+decide+append), {plan.tasks} tasks")
    batched = report.get(s, f"append {plan.batch} events/tx, 4 tasks")
    copy = report.get(c, "pg COPY")
    many = report.get(c, "pg executemany (1 tx)")
    produce = report.get(c, "kafka produce (linger 5 ms, acks=all)")
    drain = next((f.value for f in report.figures if f.name.startswith("relay drain")), float("nan"))
    for name, a, b in [
        ("single appends / raw 1-row inserts", single, raw_single),
        ("commands / raw 1-row inserts", cmds, raw_single),
        ("batched appends / raw COPY", batched, copy),
        ("batched appends / raw executemany", batched, many),
        ("relay drain / raw kafka produce", drain, produce),
    ]:
        if not (math.isnan(a) or math.isnan(b)):
            report.add(r, name, 100 * a / b, "%")
    p99 = report.get(s, "  append latency p99 (open loop)")
    offered = report.get(s, f"append 1 event/tx, offered {store.OFFERED_RATE:,.0f}/s (open loop)")
    top = max(rates)
    e2e_p99 = report.get(f"{e2e.SECTION}, {REAL[0]}", f"at {top:.0f}/s: HTTP → HQ p99")
    checks = [
        ("single-event appends ≥ 2,000/s", single >= 2000, f"{fmt(single)}/s"),
        ("single-event commands ≥ 2,000/s", cmds >= 2000, f"{fmt(cmds)}/s"),
        (
            f"append p99 ≤ 15 ms at {store.OFFERED_RATE:,.0f}/s offered",
            p99 <= 15 and offered >= 0.98 * store.OFFERED_RATE,
            f"{fmt(p99)} ms at {fmt(offered)}/s",
        ),
        ("batched ≥ 10,000 events/s", batched >= 10_000, f"{fmt(batched)}/s"),
        (f"HTTP → HQ p99 ≤ 250 ms at {top:.0f}/s (complaint)", e2e_p99 <= 250, f"{fmt(e2e_p99)} ms"),
    ]
    for label, most in [
        ("complaint create", 5),
        ("complaint acknowledge", 6),
        ("visit arrival (ticket issued)", 5),
    ]:
        ratio = report.get(k, f"{label}: / reference")
        trips = report.get(k, f"{label}: PostgreSQL round trips per command")
        checks.append((f"{label} ≥ 0.5 of the reference", ratio >= 0.5, f"{fmt(ratio)}×"))
        checks.append((f"{label} ≤ {most} round trips", trips <= most, fmt(trips)))
    p99_300 = report.get(k, "complaint create: p99 at 300/s")
    checks.append(("complaint create p99 ≤ 100 ms at 300/s", p99_300 <= 100, f"{fmt(p99_300)} ms"))
    for name, ok, value in checks:
        if value.startswith("n/a"):
            continue  # that part did not run
        report.add(r, f"target: {name}", 1.0 if ok else 0.0, "met" if ok else "MISSED", value)


def entry() -> None:
    args = parse()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    progress(f"{platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}")
    report, summary = asyncio.run(main(args))
    print(report.render())
    print(summary)
    if args.html:
        Path(args.html).write_text(html_page(report, summary))
        progress(f"wrote {args.html}")
    print(f"\n(total {time.monotonic() - started:.0f} s{', quick run: rough figures' if args.quick else ''})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["scale"]:  # HQ over many branches (bench/scale.py)
        from bench.scale import entry as scale_entry

        scale_entry(sys.argv[2:])
    else:
        entry()
