"""``python -m bench [--quick]``: run every measurement once and print the figures and ratios."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass

from bench import ceilings, e2e, store
from bench.infra import infrastructure
from bench.stats import Report, fmt, progress


@dataclass(frozen=True)
class Plan:
    seconds: float  # per throughput measurement
    tasks: int
    pool_size: int
    batch: int
    rate: float
    e2e_seconds: float
    warmup: float
    branches: int
    connections: int


FULL = Plan(
    seconds=5,
    tasks=32,
    pool_size=20,
    batch=100,
    rate=500,
    e2e_seconds=20,
    warmup=3,
    branches=200,
    connections=16,
)
QUICK = Plan(
    seconds=0.5,
    tasks=32,
    pool_size=20,
    batch=100,
    rate=200,
    e2e_seconds=2,
    warmup=0.5,
    branches=50,
    connections=8,
)


#: the walking-skeleton complaint service measures the mechanism alone; the real one adds its domain
E2E_VARIANTS = (
    ("skeleton complaint service (mechanism only)", "bench.skeleton"),
    ("services.complaint (deadlines, board, reactions)", "services.complaint"),
)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (figures are rough)")
    parser.add_argument("--rate", type=float, help="offered HTTP commands per second (default 500)")
    parser.add_argument(
        "--e2e-seconds", type=float, help="length of the measured end-to-end run (default 20)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=["ceilings", "store", "e2e"])
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator's HTTP client (default: raw)",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> Report:
    plan = QUICK if args.quick else FULL
    rate = args.rate or plan.rate
    e2e_seconds = args.e2e_seconds or plan.e2e_seconds
    report = Report()
    async with infrastructure(["bench.raw.v1", "bench.relay.v1", "bench.live.v1"]) as infra:
        if "ceilings" not in args.skip:
            progress("raw ceilings")
            await ceilings.run(
                report,
                infra.database_url,
                infra.bootstrap_servers,
                seconds=plan.seconds,
                tasks=plan.tasks,
                pool_size=plan.pool_size,
            )
        if "store" not in args.skip:
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
        if "e2e" not in args.skip:
            for label, module in E2E_VARIANTS[:1] if args.quick else E2E_VARIANTS:
                progress(f"end to end: {label}")
                await e2e.run(
                    report,
                    infra,
                    label=label,
                    module=module,
                    rate=rate,
                    seconds=e2e_seconds,
                    warmup=plan.warmup,
                    branches=plan.branches,
                    connections=plan.connections,
                    client=args.client,
                )
    ratios(report, plan, rate)
    return report


def ratios(report: Report, plan: Plan, rate: float) -> None:
    r, c, s = "4. ratios and targets", ceilings.SECTION, store.SECTION
    single = report.get(s, f"append 1 event/tx, {plan.tasks} tasks")
    raw_single = report.get(c, f"pg insert, 1 row/tx, {plan.tasks} tasks")
    commands = report.get(s, f"command (load+decide+append), {plan.tasks} tasks")
    batched = report.get(s, f"append {plan.batch} events/tx, 4 tasks")
    copy = report.get(c, "pg COPY")
    many = report.get(c, "pg executemany (1 tx)")
    produce = report.get(c, "kafka produce (linger 5 ms, acks=all)")
    drain = next((f.value for f in report.figures if f.name.startswith("relay drain")), float("nan"))
    report.add(r, "single appends / raw 1-row inserts", 100 * single / raw_single, "%")
    report.add(r, "commands / raw 1-row inserts", 100 * commands / raw_single, "%")
    report.add(r, "batched appends / raw COPY", 100 * batched / copy, "%")
    report.add(r, "batched appends / raw executemany", 100 * batched / many, "%")
    report.add(r, "relay drain / raw kafka produce", 100 * drain / produce, "%")
    p99 = report.get(s, "  append latency p99 (open loop)")
    offered = report.get(s, f"append 1 event/tx, offered {store.OFFERED_RATE:,.0f}/s (open loop)")
    e2e_p99 = report.get(f"{e2e.SECTION}, {E2E_VARIANTS[0][0]}", "HTTP → HQ p99")
    real_p99 = report.get(f"{e2e.SECTION}, {E2E_VARIANTS[1][0]}", "HTTP → HQ p99")
    checks = [
        ("single-event appends ≥ 2,000/s", single >= 2000, f"{fmt(single)}/s"),
        ("single-event commands ≥ 2,000/s", commands >= 2000, f"{fmt(commands)}/s"),
        (
            f"append p99 ≤ 15 ms at {store.OFFERED_RATE:,.0f}/s offered",
            p99 <= 15 and offered >= 0.98 * store.OFFERED_RATE,
            f"{fmt(p99)} ms at {fmt(offered)}/s",
        ),
        ("batched ≥ 10,000 events/s", batched >= 10_000, f"{fmt(batched)}/s"),
        (f"HTTP → HQ p99 ≤ 250 ms at {rate:.0f}/s (skeleton)", e2e_p99 <= 250, f"{fmt(e2e_p99)} ms"),
        (f"HTTP → HQ p99 ≤ 250 ms at {rate:.0f}/s (complaint)", real_p99 <= 250, f"{fmt(real_p99)} ms"),
    ]
    for name, ok, value in checks:
        report.add(r, f"target: {name}", 1.0 if ok else 0.0, "met" if ok else "MISSED", value)


def entry() -> None:
    args = parse()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    progress(f"{platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}")
    report = asyncio.run(main(args))
    print(report.render())
    print(f"\n(total {time.monotonic() - started:.0f} s{', quick run: rough figures' if args.quick else ''})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["scale"]:  # HQ over many branches (bench/scale.py)
        from bench.scale import entry as scale_entry

        scale_entry(sys.argv[2:])
    else:
        entry()
