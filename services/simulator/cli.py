"""``python -m services.simulator``: drive the real services with many branches' traffic.

Examples::

    python -m services.simulator --demo        # 8 branches, a simulated hour a minute, until Ctrl-C
    python -m services.simulator --branches 50 --regions 5 --minutes 120 --speed 120
    python -m services.simulator --base-urls reception=http://10.0.0.5:8001,hq=http://10.0.0.9:8005

Identity: each simulated member of staff (a branch's lobby manager ``lm-<branch>``, its tellers,
the survey gateway, an HQ analyst) sends a bearer token of their own for their own branch, signed
with ``BRANCHCARE_JWT_SECRET`` (else the public development secret: services started by
``make run`` accept it); or ``BC_TOKEN`` / ``BC_HQ_TOKEN`` for every request (``tokens.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from services.simulator import progress
from services.simulator.client import Api, Stats, parse_base_urls
from services.simulator.engine import SimConfig, Simulation
from services.simulator.model import Tuning

TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class Result:
    stats: Stats
    available: dict[str, bool]
    hq: dict[str, Any]
    simulated_minutes: float


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--branches", type=int, help="branches to simulate (default 10; demo 8)")
    parser.add_argument("--regions", type=int, help="regions they are spread over (default 3; demo 2)")
    parser.add_argument(
        "--minutes", type=float, help="simulated minutes to run (default 60; demo: until Ctrl-C)"
    )
    parser.add_argument("--speed", type=float, help="simulated seconds per real second, at most (default 60)")
    parser.add_argument(
        "--base-urls",
        help="name=url pairs, comma-separated (reception, complaint, followup, "
        "feedback, hq); the rest default to --host and the port in <NAME>_PORT (as for the dev "
        "runner), else the usual one",
    )
    parser.add_argument("--host", default="127.0.0.1", help="host of the services not named in --base-urls")
    parser.add_argument(
        "--start", help="simulated start, e.g. 2026-03-02T09:00 (default: today 09:00, Shanghai)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outage-after", type=float, help="simulated minutes until the outage (default 20)")
    parser.add_argument("--no-outage", action="store_true", help="no outage")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight at most")
    parser.add_argument(
        "--demo", action="store_true", help="8 busy branches from 10:00, an outage every 3 h, until Ctrl-C"
    )
    parser.add_argument("--quiet", action="store_true", help="no live line")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> SimConfig:
    demo = args.demo
    start = None
    if args.start:
        start = datetime.fromisoformat(args.start)
        start = start if start.tzinfo else start.replace(tzinfo=TZ)
    if start is None and demo:  # the demo starts in the busy late morning
        start = datetime.now(TZ).replace(hour=10, minute=0, second=0, microsecond=0)
    outage: float | None = args.outage_after if args.outage_after is not None else (10.0 if demo else 20.0)
    if args.no_outage:
        outage = None
    return SimConfig(
        branches=args.branches or (8 if demo else 10),
        regions=args.regions or (2 if demo else 3),
        minutes=args.minutes if args.minutes is not None else (None if demo else 60.0),
        speed=args.speed or 60.0,
        start=start,
        seed=args.seed,
        outage_after=outage,
        outage_every=180.0 if demo and outage is not None else None,
        tuning=Tuning(peak_arrivals_per_hour=40.0) if demo else Tuning(),
    )


async def _watch_hq(api: Api, note: list[str], result: dict[str, Any]) -> None:
    """Ask HQ every few seconds what it sees (branches, crises), for the live line and the summary."""
    while True:
        analyst = api.acting("hq-analyst", None)
        status = await analyst.get("hq", "/hq/status")
        alerts = await analyst.get("hq", "/hq/alerts", {"kind": "spike"})
        if status is not None and status.status_code == 200:
            state = status.json()
            result["status"] = {
                k: state.get(k) for k in ("generation", "rebuilding", "branches", "last_event_at")
            }
        if alerts is not None and alerts.status_code == 200:
            result["crises"] = [
                {k: a[k] for k in ("alert_key", "category", "branches", "published")}
                for a in alerts.json()["alerts"]
            ]
        if result:
            branches = result.get("status", {}).get("branches", "?")
            note[0] = f"HQ {branches} branches, {len(result.get('crises', []))} crises"
        await asyncio.sleep(5)


async def run(
    config: SimConfig,
    base_urls: dict[str, str],
    *,
    concurrency: int = 32,
    out: TextIO | None = sys.stderr,
    token: str | None = None,
) -> Result:
    stats = Stats()
    api = Api(base_urls, stats=stats, concurrency=concurrency, token=token)
    try:
        available = await api.probe_all()
        sim = Simulation(config, api)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, sim.stop)
        note = [""]
        hq: dict[str, Any] = {}
        helpers = [asyncio.create_task(_watch_hq(api, note, hq))]
        if out is not None:
            helpers.append(asyncio.create_task(progress.show(stats, sim.sim_now, lambda: note[0], out=out)))
        try:
            await sim.run()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        return Result(stats, available, hq, sim.simulated_seconds / 60)
    finally:
        await api.close()


def summary(result: Result) -> dict[str, Any]:
    s = result.stats
    return {
        "simulated_minutes": round(result.simulated_minutes, 1),
        "services": {k: ("up" if v else "not reachable") for k, v in result.available.items()},
        "requests": dict(s.requests),
        "errors": dict(s.errors),
        "conflicts": dict(s.conflicts),
        "failures": [{"count": f.count, "first": f.message} for f in s.failures.values()],
        "statuses": {str(k): v for k, v in sorted(s.statuses.items())},
        "done": dict(s.done),
        "warnings": s.warnings,
        "hq": result.hq,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    config = config_from(args)
    try:
        urls = parse_base_urls(args.base_urls, args.host)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    length = "until Ctrl-C" if config.minutes is None else f"{config.minutes:g} simulated minutes"
    print(
        f"simulating {config.branches} branches in {config.regions} regions, {length} at {config.speed:g}x"
        + ("" if config.outage_after is None else f"; an outage after {config.outage_after:g} minutes"),
        file=sys.stderr,
    )
    result = asyncio.run(
        run(config, urls, concurrency=args.concurrency, out=None if args.quiet else sys.stderr)
    )
    if not args.quiet:
        print(file=sys.stderr)
    report = summary(result)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for key in ("simulated_minutes", "services", "requests", "errors", "conflicts", "done"):
            print(f"{key}: {report[key]}")
        for failure in report["failures"]:
            print(f"error ×{failure['count']}: {failure['first']}")
        for warning in report["warnings"]:
            print(f"warning: {warning}")
        if report["hq"]:
            print(f"hq: {json.dumps(report['hq'].get('crises', []), default=str)}")
    if not any(result.available.values()):
        print(
            "no service was reachable: start them with `python -m services` (or give --base-urls)",
            file=sys.stderr,
        )
        return 1
    return 0
