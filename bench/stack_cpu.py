"""CPU the WHOLE running system spends per complaint create, by process: ``python -m bench.stack_cpu``.

Start the system first (``python -m services --state-dir DIR``), then::

    python -m bench.stack_cpu --state-dir DIR --complaint http://127.0.0.1:8002 [--creates 2000]

The runner's ``DIR/infra.json`` names its pid and database; every process of the system is found
from there: the service processes and the broker (the runner's children) and PostgreSQL (the
postmaster of ``DIR/pg`` and its children). Each PostgreSQL backend is charged to the service that
holds the other end of its connection (``/proc/net/tcp`` + the service's socket inodes), so a
service's figure is its own process plus the database work it asks for.

Measured: utime + stime (``/proc/<pid>/stat``, every thread) of every process over an idle window
(``--idle`` s) and then over ``--creates`` creates offered at ``--rate`` per second (open loop;
``--rate 0``: a closed loop over ``--connections``) *and the pipeline's drain*: the window ends
once HQ's read model holds every complaint created and the system's CPU is back near its idle
rate (every reaction done). Printed per process: ms of CPU per create, net of its idle rate over
the window, and the kernel's part. CPU time, not wall-clock throughput; but busy consumers fetch
on a clock, so what they cost per create falls as the rate rises: compare runs at one rate.
Backends that exit during the window are charged to ``postgres (other)`` through the
postmaster's reaped-children times.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.commands import send_with
from bench.hot_commands import ComplaintCreate
from bench.http_client import LoadClient
from bench.load import closed_loop, open_loop
from bench.stats import progress

TICKS = os.sysconf("SC_CLK_TCK")
_BACKEND_PORT = re.compile(r"127\.0\.0\.1\((\d+)\)")


@dataclass(frozen=True)
class Times:
    user: float
    system: float
    #: reaped children's times (the postmaster's: backends that exited)
    children: float = 0.0


def times_of(pid: int) -> Times | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return Times(
        int(fields[11]) / TICKS, int(fields[12]) / TICKS, (int(fields[13]) + int(fields[14])) / TICKS
    )


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def local_ports_by_inode() -> dict[str, int]:
    ports: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            ports[cols[9]] = int(cols[1].rsplit(":", 1)[1], 16)
    return ports


@dataclass
class System:
    """Every process of a running ``python -m services``, named: ``complaint``, ``pg:complaint``
    (the backends serving complaint), ``postgres (other)``, ``broker``, …"""

    runner: int
    postmaster: int

    def processes(self) -> dict[int, str]:
        named: dict[int, str] = {self.runner: "runner"}
        by_port: dict[int, str] = {}
        inode_ports = local_ports_by_inode()
        for child in children_of(self.runner):
            line = cmdline(child)
            match = re.search(r"-m services\.(\w+)", line)
            name = match.group(1) if match else ("broker" if "tansu" in line else line.split(" ")[0])
            named[child] = name
            if match:
                for inode in socket_inodes(child):
                    if inode in inode_ports:
                        by_port[inode_ports[inode]] = name
        named[self.postmaster] = "postgres (other)"
        for backend in children_of(self.postmaster):
            port = _BACKEND_PORT.search(cmdline(backend))
            owner = by_port.get(int(port.group(1))) if port else None
            named[backend] = f"pg:{owner}" if owner else "postgres (other)"
        return named


def snapshot(system: System) -> dict[int, tuple[str, Times]]:
    taken: dict[int, tuple[str, Times]] = {}
    for pid, name in system.processes().items():
        t = times_of(pid)
        if t is not None:
            taken[pid] = (name, t)
    return taken


def spent(
    before: dict[int, tuple[str, Times]], after: dict[int, tuple[str, Times]]
) -> dict[str, tuple[float, float]]:
    """(total, kernel) CPU seconds per name between two snapshots; a process born in between
    counts from zero; the postmaster's reaped children count as ``postgres (other)``."""
    used: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for pid, (name, t1) in after.items():
        t0 = before.get(pid, (name, Times(0.0, 0.0, t1.children)))[1]
        used[name][0] += t1.user + t1.system - t0.user - t0.system
        used[name][1] += t1.system - t0.system
        if name == "postgres (other)":
            used[name][0] += t1.children - t0.children
    return {name: (u[0], u[1]) for name, u in used.items()}


def total_cpu(system: System) -> float:
    return sum(t.user + t.system + t.children for _, t in snapshot(system).values())


async def hq_complaints(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM hq.complaints"))
    finally:
        await conn.close()


async def drained(system: System, database_url: str, expected: int, idle_rate: float, limit: float) -> float:
    """Waits until HQ holds ``expected`` complaints and the system's CPU rate is back under twice
    its idle rate (plus 5 % of a core); answers the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await hq_complaints(database_url) >= expected:
            break
        await asyncio.sleep(0.25)
    while time.monotonic() - started < limit:
        c0, t0 = total_cpu(system), time.monotonic()
        await asyncio.sleep(1.0)
        rate = (total_cpu(system) - c0) / (time.monotonic() - t0)
        if rate <= 2 * idle_rate + 0.05:
            break
    return time.monotonic() - started


def find_system(state_dir: Path) -> tuple[System, str]:
    infra = json.loads((state_dir / "infra.json").read_text())
    postmaster = int((state_dir / "pg" / "postmaster.pid").read_text().split()[0])
    return System(runner=int(infra["pid"]), postmaster=postmaster), str(infra["database_url"])


async def run(args: argparse.Namespace) -> None:
    system, database_url = find_system(args.state_dir.resolve())
    command = ComplaintCreate("complaint create (system)", 201)
    first = random.randrange(10**9)  # fresh customers and ids every run
    async with LoadClient(args.complaint, args.connections) as http:
        send = functools.partial(send_with, http, command)
        progress(f"warm-up: {args.warmup} creates")
        await closed_loop(send, requests=args.warmup, connections=args.connections, first=first)
        idle_rate = 0.0
        await drained(system, database_url, 0, 10.0, 60.0)
        progress(f"idle window: {args.idle:.0f} s")
        s0, t0 = snapshot(system), time.monotonic()
        await asyncio.sleep(args.idle)
        s1, t1 = snapshot(system), time.monotonic()
        idle = {n: u[0] / (t1 - t0) for n, u in spent(s0, s1).items()}
        idle_rate = sum(idle.values())
        held = await hq_complaints(database_url)
        how = f"at {args.rate:.0f}/s" if args.rate > 0 else f"closed loop over {args.connections} connections"
        progress(f"{args.creates} creates {how}, then the drain")
        before, started = snapshot(system), time.monotonic()
        if args.rate > 0:  # open loop: the consumers' fetch cadence costs the same per second
            seconds = args.creates / args.rate
            outcome = await open_loop(send, rate=args.rate, seconds=seconds, first=first + args.warmup)
        else:
            outcome = await closed_loop(
                send, requests=args.creates, connections=args.connections, first=first + args.warmup
            )
        load_s = time.monotonic() - started
        expected = held + len(outcome.ok(201))  # HQ ends up with every complaint created
        waited = await drained(system, database_url, expected, idle_rate, args.drain_limit)
        after, window = snapshot(system), time.monotonic() - started
    ok = len(outcome.ok(201))
    statuses = Counter(s.status for s in outcome.samples)
    if outcome.saturated or ok < args.creates:
        print(f"\nNOT COMPARABLE: the system did not take the load (answers {dict(statuses)}); lower --rate")
    used = spent(before, after)
    print(
        f"\n{ok} creates answered 201 of {args.creates} in {load_s:.1f} s ({ok / load_s:.0f}/s, indicative);"
    )
    print(
        f"window {window:.1f} s incl. drain {waited:.1f} s;"
        f" HQ has {await hq_complaints(database_url)} (wanted {expected})"
    )
    print(f"idle rate of the whole system: {idle_rate * 100:.1f} % of a core\n")
    print(f"{'process':<22}{'ms/create':>10}{'net':>8}{'kernel':>8}")
    rows = sorted(used.items(), key=lambda kv: -kv[1][0])
    totals = [0.0, 0.0, 0.0]
    for name, (cpu, kernel) in rows:
        net = max(0.0, cpu - idle.get(name, 0.0) * window)
        figures = (cpu / ok * 1000, net / ok * 1000, kernel / ok * 1000)
        totals = [a + b for a, b in zip(totals, figures, strict=True)]
        print(f"{name:<22}{figures[0]:>10.3f}{figures[1]:>8.3f}{figures[2]:>8.3f}")
    print(f"{'TOTAL':<22}{totals[0]:>10.3f}{totals[1]:>8.3f}{totals[2]:>8.3f}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True, help="the running system's --state-dir")
    parser.add_argument("--complaint", default="http://127.0.0.1:8002", help="the complaint service's URL")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--connections", type=int, default=16, help="the closed loop's (--rate 0)")
    parser.add_argument(
        "--rate",
        type=float,
        default=25.0,
        help="creates/s offered (open loop; 0: closed loop). A fixed rate keeps what costs per"
        " second (busy consumers fetch on a clock) the same share of a create on a busy machine",
    )
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of the idle window")
    parser.add_argument("--drain-limit", type=float, default=120.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse(argv)))


if __name__ == "__main__":
    main()
