"""``python -m bench.chaos [--quick] [--faults a,b]``: one fault at a time under load, then checks.

Per fault, on branches of its own (so counts never mix): load at ~15 requests/s over 20 branches
(80 % complaints to the complaint service, 20 % visits to reception) for a warm-up, the fault,
more load, then up to ``settle`` seconds for everything acknowledged to arrive everywhere. Printed
per fault:

- **acked**: requests answered 201;
- **lost store / topic / hq / followup**: acknowledged but missing from the service's store, never
  seen on its topic, missing from HQ's read model (complaints by id, visits by count per branch),
  missing from follow-up's complaints (complaints only) when the settle time ran out;
- **first 201**: seconds from a killed service's restart (or the fault's end) to its first 201;
- **hq catch-up**: seconds from the fault's end until HQ holds every complaint acknowledged
  before it ended;
- **pub stall**: the longest time an event of the fault's branches waited between its commit and
  its first appearance on the topic (an event never published counts until the end);
- **dups**: messages seen more than once on the topics (the relay's resends);
- **5xx**: answers 500-599 by kind (the 503's outcome, or the content type), and transport errors.

It runs and prints whatever the outcome: a missed target is a figure, not a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from bench.chaos.faults import FAULTS, FULL, QUICK, Timing, Window
from bench.chaos.load import Load
from bench.chaos.observe import Snapshot, TopicObserver, snapshot
from bench.chaos.stack import ChaosStack

BRANCHES = 20


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Result:
    fault: str
    acked: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    first_201: float | None = None
    hq_catch_up: float | None = None
    stall: float = 0.0
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    note: str = ""


def _lost(load: Load, snap: Snapshot | None, observer: TopicObserver) -> dict[str, int]:
    acked = [s for s in load.sent if s.acknowledged]
    if snap is None:
        return {"store": -1, "topic": -1, "hq": -1, "followup": -1}
    complaints = {s.created for s in acked if s.kind == "complaint"}
    visits = {s.created for s in acked if s.kind == "visit"}
    per_branch = Counter(s.branch for s in acked if s.kind == "visit")
    return {
        "store": len(complaints - snap.complaints) + len(visits - snap.visits),
        "topic": sum(1 for e in snap.recorded if e not in observer.first_seen),
        "hq": len(complaints - snap.hq_complaints)
        + sum(max(0, n - snap.hq_visits.get(b, 0)) for b, n in per_branch.items()),
        "followup": len(complaints - snap.followup_complaints),
    }


async def _catch_up(
    stack: ChaosStack, load: Load, branches: list[str], window: Window, deadline: float
) -> float | None:
    """Seconds from the fault's end until HQ holds every complaint acknowledged before it ended."""
    target = {
        s.created
        for s in load.sent
        if s.acknowledged and s.kind == "complaint" and s.answered <= window.ended
    }
    while time.monotonic() < deadline:
        snap = await snapshot(stack.database_url, branches, timeout=3)
        if snap is not None and target <= snap.hq_complaints:
            return max(0.0, time.monotonic() - window.ended)
        await asyncio.sleep(0.5)
    return None


async def _progress(name: str, load: Load, every: float = 5.0) -> None:
    """A line every few seconds while the load runs: sent, acknowledged, failed."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        sent = list(load.sent)
        acked = sum(1 for s in sent if s.acknowledged)
        failed = sum(1 for s in sent if s.status >= 500 or (s.status == 0 and s.error))
        pending = sum(1 for s in sent if not s.answered)
        elapsed = time.monotonic() - started
        say(f"{name}: +{elapsed:.0f} s: {len(sent)} sent, {acked} acked, {failed} failed, {pending} waiting")


async def run_fault(stack: ChaosStack, name: str, timing: Timing, run: str) -> Result:
    branches = [f"cx-{run}-{name[:8]}-{i:02d}" for i in range(BRANCHES)]
    problems = await stack.healthy()
    if problems:
        say(f"{name}: the stack is not whole before the fault (going on): {'; '.join(problems)[:600]}")
    load = Load(stack.url("complaint"), stack.url("reception"), branches)
    observer = TopicObserver(stack.broker.bootstrap_servers, set(branches))
    watching = asyncio.create_task(observer.run())
    loading = asyncio.create_task(load.run())
    ticking = asyncio.create_task(_progress(name, load))
    say(f"{name}: load on {BRANCHES} branches, fault in {timing.warm:.0f} s")
    await asyncio.sleep(timing.warm)
    window = await FAULTS[name](stack, timing)
    say(f"{name}: fault over after {window.ended - window.began:.1f} s {window.note}".rstrip())
    settle_deadline = window.ended + timing.after + timing.settle
    catching_up = asyncio.create_task(_catch_up(stack, load, branches, window, settle_deadline))
    await asyncio.sleep(timing.after)
    load.stop()
    await loading
    ticking.cancel()
    acked = sum(1 for s in load.sent if s.acknowledged)
    say(f"{name}: load stopped: {len(load.sent)} sent, {acked} acknowledged; checking")
    snap: Snapshot | None = None
    lost: dict[str, int] = {}
    while True:
        snap = await snapshot(stack.database_url, branches)
        lost = _lost(load, snap, observer)
        if snap is not None and not any(lost.values()):
            break
        if time.monotonic() > settle_deadline:
            say(f"{name}: settle time over, still missing: {lost}")
            break
        await asyncio.sleep(1.0)
    observer.stop()
    await asyncio.gather(watching, return_exceptions=True)
    result = Result(name, acked, lost, note=window.note)
    result.hq_catch_up = await catching_up
    kind = {"complaint": "complaint", "reception": "visit"}.get(window.service or "")
    result.first_201 = load.first_ack_after(window.restarted or window.ended, kind)
    result.duplicates = observer.duplicates
    end = time.time()
    if snap is not None:
        result.stall = max(
            (observer.first_seen.get(e, end) - at for e, at in snap.recorded.items()), default=0.0
        )
    for s in load.sent:
        if s.status >= 500:
            result.errors[f"{s.status} {s.error}"] += 1
        elif s.status == 0 and s.error:
            result.errors[f"no answer ({s.error})"] += 1
    say(f"{name}: {_line(result)}")
    return result


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _line(r: Result) -> str:
    lost = " ".join(f"{k} {v}" for k, v in r.lost.items())
    errors = ", ".join(f"{n} x {k}" for k, n in r.errors.most_common()) or "none"
    return (
        f"acked {r.acked}; lost: {lost}; first 201 {_fmt(r.first_201)}; hq catch-up {_fmt(r.hq_catch_up)};"
        f" pub stall {r.stall:.1f} s; dups {r.duplicates}; 5xx/no answer: {errors}"
    )


def report(results: list[Result]) -> None:
    print()
    head = f"{'fault':<24}{'acked':>6} {'lost st/tp/hq/fu':>17} {'first 201':>10} {'hq catch-up':>12}"
    print(head + f" {'pub stall':>10} {'dups':>5}  5xx / no answer")
    for r in results:
        lost = "/".join(str(r.lost.get(k, "?")) for k in ("store", "topic", "hq", "followup"))
        errors = ", ".join(f"{n}x {k}" for k, n in r.errors.most_common()) or "-"
        print(
            f"{r.fault:<24}{r.acked:>6} {lost:>17} {_fmt(r.first_201):>10} {_fmt(r.hq_catch_up):>12}"
            f" {r.stall:>8.1f} s {r.duplicates:>5}  {errors}"
        )
    print("(lost -1: the database did not answer the check)", flush=True)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter faults and waits")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}"
    )
    parser.add_argument("--settle", type=float, help="seconds to wait for everything to arrive")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs")
    args = parser.parse_args(argv)
    chosen = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}")
    for noisy in ("aiokafka", "kafka"):  # the observer's reconnects while the broker is away
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    timing = QUICK if args.quick else FULL
    if args.settle is not None:
        timing = Timing(timing.warm, timing.after, args.settle, timing.pause, timing.hold)
    say("starting PostgreSQL, the broker and complaint, reception, followup, hqfeed, hq")
    stack = await ChaosStack.start()
    say(f"stack up (logs in {stack.work / 'logs'})")
    results: list[Result] = []
    run = uuid.uuid4().hex[:4]
    try:
        for name in chosen:
            try:
                results.append(await run_fault(stack, name, timing, run))
            except Exception as exc:  # report it and go on with the next fault
                say(f"{name}: the run itself failed: {exc!r}")
                results.append(Result(name, note=f"run failed: {exc!r}"))
    finally:
        report(results)
        await stack.stop()
        stack.cleanup(keep_logs=args.keep_logs)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
