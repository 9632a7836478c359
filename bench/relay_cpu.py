"""CPU milliseconds of the outbox relay per published event, alone in its process.

``python -m bench.relay_cpu [--against DIR] [--backlog 20000] [--rate 300] [--seconds 4]
[--rounds 3] [--profile FILE]``

The relay (:mod:`bench.relay_cpu_child`, built as :mod:`shared.runner` builds a service's) runs in
a process of its own against PostgreSQL and a tansu broker of its own; this process writes the
events, so the relay's utime+stime (``/proc/<pid>/stat``) is its cost alone:

- **drain**: ``--backlog`` events stored before the relay starts (10 per transaction), published
  in full batches — the cost of publishing as such;
- **trickle**: ``--rate`` single-event transactions per second for ``--seconds``, each a NOTIFY
  wake-up, as a service's creates under load (its commits poke the relay directly, one wake per
  commit as here): the cost per event with the batch sizes such a load gives. ``batch`` is the mean
  events per publish call, ``age`` the age of a call's oldest event when Kafka acknowledged it
  (p50/p99: what the relay adds to HTTP→consumer latency, plus an append round trip), ``stmts``
  the statements (round trips to PostgreSQL) the relay sent per publish call.

With ``--against DIR`` (another checkout, e.g. ``git worktree add /tmp/base main``) the same runs
for that checkout's relay, in alternating rounds under the same machine load, with its ratio.
With ``--profile FILE`` one more trickle round of this checkout runs under ``py-spy`` (raw
stacks in FILE, summarised by layer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu_per_request import cpu_seconds, profiled
from bench.infra import infrastructure
from bench.stats import percentile, progress
from shared.devstack import die_with_parent
from shared.eventstore import EventStore
from tests.support.events import make_envelope, migrated_store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: a payload of about a complaint event's size
PAYLOAD = {"summary": "x" * 300, "category": "service", "channel": "counter", "n": 0}
BRANCHES = [f"branch-{i:03d}" for i in range(40)]


@dataclass
class Side:
    name: str
    root: Path
    store: EventStore
    topic: str
    proc: asyncio.subprocess.Process | None = None
    drain_ms: float = float("nan")
    cpu: float = 0.0
    events: int = 0
    calls: int = 0
    statements: int = 0
    ages: list[float] = field(default_factory=list)
    idle_rate: float = 0.0
    window: float = 0.0
    appended: int = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def expect(self, head: str) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            if not raw:
                raise RuntimeError(f"{self.name}: the relay process ended")
            text = raw.decode().strip()
            if text.startswith(head):
                return text.removeprefix(head).strip()

    async def stats(self) -> dict[str, Any]:
        await self.send("stats")
        data: dict[str, Any] = json.loads(await self.expect("stats"))
        return data

    def trickle_ms(self) -> float:
        return max(0.0, self.cpu - self.idle_rate * self.window) / max(self.events, 1) * 1000


async def append_one(side: Side, i: int) -> None:
    stream = f"{side.name}-{i}"
    data = {**PAYLOAD, "n": i}
    await side.store.append(stream, 0, [make_envelope(stream, 1, branch_id=BRANCHES[i % 40], data=data)])


async def write_backlog(side: Side, count: int, per_tx: int = 10, tasks: int = 8) -> None:
    async def worker(w: int) -> None:
        for t in range(w, count // per_tx, tasks):
            stream = f"{side.name}-backlog-{t}"
            envs = [
                make_envelope(stream, v, branch_id=BRANCHES[(t + v) % 40], data={**PAYLOAD, "n": v})
                for v in range(1, per_tx + 1)
            ]
            await side.store.append(stream, 0, envs)

    await asyncio.gather(*(worker(w) for w in range(tasks)))


async def caught_up(side: Side, timeout: float = 60.0) -> None:
    """Until the relay's checkpoint is at the end of the log."""
    deadline = time.monotonic() + timeout
    async with side.store.pool.acquire() as conn:
        while time.monotonic() < deadline:
            behind = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM events e WHERE (e.tx_id, e.position) >
                   coalesce((SELECT (c.tx_id, c.position) FROM relay_checkpoint c WHERE c.topic = $1),
                            ('0'::xid8, 0::bigint)))""",
                side.topic,
            )
            if not behind:
                return
            await asyncio.sleep(0.01)
    raise TimeoutError(f"{side.name}: the relay did not catch up within {timeout:.0f} s")


@asynccontextmanager
async def relay_process(side: Side, database_url: str, bootstrap: str) -> AsyncIterator[None]:
    env = {
        **os.environ,
        "PYTHONPATH": str(side.root),
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "RELAY_SCHEMA": side.name,
        "RELAY_TOPIC": side.topic,
        "LOG_LEVEL": "WARNING",
    }
    side.proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not this directory first on sys.path: the checkout under test (PYTHONPATH) is
        str(HERE / "relay_cpu_child.py"),
        cwd=side.root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        await side.expect("ready")
        yield
    finally:
        if side.proc.returncode is None:
            await side.send("stop")
            try:
                await asyncio.wait_for(side.proc.wait(), 20)
            except TimeoutError:
                side.proc.kill()


async def drain(side: Side, backlog: int) -> None:
    before = cpu_seconds(side.pid)
    await side.send("go")
    await caught_up(side, timeout=300)
    side.drain_ms = (cpu_seconds(side.pid) - before) / backlog * 1000
    await side.stats()  # reset
    progress(f"{side.name}: drained {backlog} events, {side.drain_ms:.3f} ms CPU per event")


async def idle(side: Side, seconds: float = 2.0) -> None:
    before, started = cpu_seconds(side.pid), time.monotonic()
    await asyncio.sleep(seconds)
    side.idle_rate = (cpu_seconds(side.pid) - before) / (time.monotonic() - started)


async def trickle(side: Side, rate: float, seconds: float) -> None:
    count = int(rate * seconds)
    before, started = cpu_seconds(side.pid), time.monotonic()
    pending: list[asyncio.Task[None]] = []
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(append_one(side, side.appended + i)))
    await asyncio.gather(*pending)
    side.appended += count
    await caught_up(side)
    await asyncio.sleep(0.2)
    side.cpu += cpu_seconds(side.pid) - before
    side.window += time.monotonic() - started
    stats = await side.stats()
    side.events += stats["events"]
    side.calls += stats["calls"]
    side.statements += stats.get("statements", 0)
    side.ages += stats["ages"]


async def profile(side: Side, out: Path, rate: float, seconds: float) -> str:
    return await profiled(side.pid, out, lambda: trickle(side, rate, seconds))


def row(side: Side) -> str:
    ages = sorted(side.ages) or [float("nan")]
    batch = side.events / max(side.calls, 1)
    return (
        f"{side.name:<10} {side.drain_ms:>9.3f} {side.trickle_ms():>10.3f} {side.events:>7} {batch:>6.1f}"
        f" {percentile(ages, 50) * 1000:>8.1f} {percentile(ages, 99) * 1000:>8.1f}"
        f" {side.idle_rate * 100:>7.2f} {side.statements / max(side.calls, 1):>6.2f}"
    )


HEAD = (
    f"{'relay':<10} {'drain ms':>9} {'trickle ms':>10} {'events':>7} {'batch':>6} {'age p50':>8}"
    f" {'age p99':>8} {'idle %':>7} {'stmts':>6}"
)


async def run(args: argparse.Namespace) -> list[Side]:
    roots = [("this", ROOT)] + ([("against", Path(args.against).resolve())] if args.against else [])
    topics = [f"bench.relaycpu.{name}.v1" for name, _ in roots]
    async with infrastructure(topics) as infra, AsyncExitStack() as stack:
        sides = []
        for (name, root), topic in zip(roots, topics, strict=True):
            store = await stack.enter_async_context(migrated_store(infra.database_url, name))
            sides.append(Side(name, root, store, topic))
        for side in sides:
            progress(f"{side.name}: writing a backlog of {args.backlog} events")
            await write_backlog(side, args.backlog)
        for side in sides:
            await stack.enter_async_context(relay_process(side, infra.database_url, infra.bootstrap_servers))
            await drain(side, args.backlog)
        for side in sides:
            await idle(side)
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                progress(f"round {r + 1}: {side.name}, {args.rate:.0f} events/s for {args.seconds:.0f} s")
                await trickle(side, args.rate, args.seconds)
        if args.profile:
            summary = await profile(sides[0], Path(args.profile), args.rate, args.seconds)
            print(f"profile of {sides[0].name}:\n{summary}", flush=True)
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_cpu", description=__doc__)
    parser.add_argument("--against", help="another checkout to compare with")
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=300.0, help="trickle: single-event commits per second")
    parser.add_argument("--seconds", type=float, default=4.0, help="trickle: seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="py-spy raw stacks of one more trickle round here")
    args = parser.parse_args()
    sides = asyncio.run(run(args))
    print("\n== relay CPU ms per event (relay process utime+stime; trickle net of its idle rate)")
    print(HEAD)
    for side in sides:
        print(row(side))
    if len(sides) == 2 and sides[1].trickle_ms() > 0:
        print(
            f"this / against: drain {sides[0].drain_ms / sides[1].drain_ms:.2f},"
            f" trickle {sides[0].trickle_ms() / sides[1].trickle_ms():.2f}"
        )


if __name__ == "__main__":
    main()
