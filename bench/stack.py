"""Issue 19's own rows, measured from outside against a running system: ``python -m bench.stack``.

Start the system first (``make run``, or ``python -m services``), then::

    python -m bench.stack --complaint http://127.0.0.1:8002 --database-url postgresql://…/branchcare

It starts the bare reference endpoint (:mod:`bench.reference`) beside the running system, on the
same PostgreSQL server, and sends complaint creates to both with the same client
(:mod:`bench.http_client`, reconnecting like a real one): closed loop over 32 connections, then
open loop at each ``--rates`` for the p50/p99, and prints the ratio. Unlike ``python -m bench``,
whose command part runs each service alone with the broker, here every other service of the
system reacts to what the complaint service publishes, as in a branch's day.

The database URL is the one the system's banner prints (the embedded PostgreSQL by default); the
reference creates its one table there.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.commands import REFERENCE, REFERENCE_MODULE, Measured, Plan, measure, serving
from bench.hot_commands import ComplaintCreate
from bench.stats import Report, fmt, progress
from tests.support.services import ServiceProcess

SECTION = "complaint creates against the running system, next to the bare reference"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--complaint", default="http://127.0.0.1:8002", help="the complaint service's URL")
    parser.add_argument(
        "--database-url",
        required=True,
        help="the system's PostgreSQL (the reference runs on the same server)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="closed loop and each open-loop rate")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rates", default="300", help="open-loop rates, comma-separated (default 300)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> Report:
    rates = tuple(float(r) for r in args.rates.split(","))
    plan = Plan(
        requests=10**6,
        closed_seconds=args.seconds,
        connections=args.connections,
        rates=rates,
        seconds=args.seconds,
        warmup=100,
        counted=0,
    )
    report = Report()
    reference = ServiceProcess(
        "reference",
        database_url=args.database_url,
        kafka_bootstrap_servers="unused:9092",  # the reference publishes nothing
        env={"LOG_LEVEL": "WARNING"},
        module=REFERENCE_MODULE,
    )
    progress("starting the bare reference endpoint beside the running system")
    async with serving(reference):
        ref = await measure(report, reference.url, ComplaintCreate(REFERENCE, 201), plan, section=SECTION)
    progress(f"complaint creates at {args.complaint}")
    command = ComplaintCreate("complaint create (system)", 201)
    service = await measure(report, args.complaint, command, plan, section=SECTION)
    summarise(report, ref, service, rates)
    return report


def summarise(report: Report, ref: Measured, service: Measured, rates: tuple[float, ...]) -> None:
    report.add(SECTION, "creates/s / reference", service.closed / ref.closed, "×", "target ≥ 0.5")
    for rate in rates:
        p50, p99, saturated = service.at.get(rate, (float("nan"),) * 2 + (False,))
        note = "SATURATED" if saturated else "target p99 ≤ 100 ms at 300/s"
        report.add(SECTION, f"system p50 | p99 at {rate:.0f}/s", p99, "ms", f"p50 {fmt(p50)} ms; {note}")
    unanswered = "unanswered open-loop requests count"
    report.add(SECTION, "requests not answered 201", float(service.failed), "requests", unanswered)


def main(argv: list[str] | None = None) -> None:
    print(asyncio.run(run(parse(argv))).render())


if __name__ == "__main__":
    main()
