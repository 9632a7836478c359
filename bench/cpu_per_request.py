"""CPU milliseconds of the service process per request, for each hottest command: a measure the
loaded machine does not distort (throughput does; CPU time per request barely moves with load).

``python -m bench.cpu_per_request [--services complaint,reception] [--requests 1500]
[--connections 8] [--profile DIR]``

For every command of :mod:`bench.hot_commands` (and the bare reference endpoint,
:mod:`bench.reference`, first): the service is started as :mod:`bench.commands` starts it (alone
with a broker of its own, ``LOG_LEVEL=WARNING``), warmed up, then

- **idle**: utime+stime of the service's pid (``/proc/<pid>/stat``, every thread) over 2 s
  with nothing offered — its consumers' and relay's polling;
- **loaded**: a closed loop of ``--requests`` requests over ``--connections`` connections, then a
  1 s tail (the relay publishing, the audit rows after the answers); CPU over the whole window.

Printed per command: ``gross`` = loaded CPU ÷ requests answered with the command's status,
``net`` = (loaded CPU − idle rate × window) ÷ requests (what one more request costs), and the
kernel's part of ``gross`` (stime: mostly socket writes to PostgreSQL, Kafka and the client;
a round trip costs kernel time in the service as well as in PostgreSQL). ``req/s`` is indicative
only: it depends on what else the machine runs. With
``--profile DIR`` a second closed loop per command runs under ``py-spy record --format raw``
(``DIR/<command>.txt``; py-spy in the venv or on PATH) and its samples are summarised by layer:
self (the leaf frame's layer) and total (any frame of the stack in that layer).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import commands
from bench.commands import REFERENCE, REFERENCE_MODULE, Group, groups, send_with, serving
from bench.hot_commands import Command, ComplaintCreate
from bench.http_client import LoadClient
from bench.infra import infrastructure
from bench.load import closed_loop
from bench.stats import progress
from shared.devstack import TansuBroker, create_topics
from shared.topology import all_topics
from tests.support.services import ServiceProcess

TICKS = os.sysconf("SC_CLK_TCK")
ENV = {"LOG_LEVEL": "WARNING", "BRANCHCARE_DEV_MODE": "1"}


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # fields 14 and 15 of proc(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process, in seconds."""
    return sum(cpu_times(pid))


@dataclass
class Measured:
    label: str
    requests: int
    gross_ms: float
    net_ms: float
    #: the kernel's share of ``gross_ms`` (stime: socket writes and reads, mostly)
    sys_ms: float
    idle_pct: float
    rate: float


async def measure(
    pid: int, url: str, command: Command, *, requests: int, connections: int, first: int
) -> Measured:
    async with LoadClient(url, connections) as http:
        send = functools.partial(send_with, http, command)
        await closed_loop(send, requests=min(200, requests // 5), connections=connections, first=first)
        await asyncio.sleep(1.0)
        idle_cpu, idle_t = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(2.0)
        idle_rate = (cpu_seconds(pid) - idle_cpu) / (time.monotonic() - idle_t)
        (user0, sys0), started = cpu_times(pid), time.monotonic()
        outcome = await closed_loop(send, requests=requests, connections=connections, first=first + 10**5)
        await asyncio.sleep(1.0)
        user1, sys1 = cpu_times(pid)
        spent, window = user1 + sys1 - user0 - sys0, time.monotonic() - started
    ok = len(outcome.ok(command.status))
    if ok == 0:
        return Measured(command.label, 0, float("nan"), float("nan"), float("nan"), idle_rate * 100, 0.0)
    net = max(0.0, spent - idle_rate * window)
    sys_ms = (sys1 - sys0) / ok * 1000
    rate = outcome.rate(command.status)
    return Measured(command.label, ok, spent / ok * 1000, net / ok * 1000, sys_ms, idle_rate * 100, rate)


# ---------------------------------------------------------------------------------- profiling

#: (layer, pattern on a frame's file): the first that matches names the frame's layer (py-spy
#: names files relative to their ``site-packages`` or the repository)
LAYERS: Sequence[tuple[str, str]] = (
    ("asyncpg", r"(^|/)asyncpg/"),
    ("kafka (aiokafka, faststream)", r"(^|/)(aiokafka|faststream|fast_depends)/"),
    ("fastapi", r"(^|/)fastapi/"),
    ("starlette", r"(^|/)starlette/"),
    ("pydantic", r"(^|/)pydantic(_core)?/"),
    ("uvicorn/httptools", r"(^|/)(uvicorn|httptools|h11)/"),
    ("jwt", r"(^|/)jwt/"),
    ("prometheus", r"(^|/)prometheus_client/"),
    ("opentelemetry", r"(^|/)opentelemetry/"),
    ("logging", r"(^|/)logging/|shared/logs\.py|(^|/)pythonjsonlogger/"),
    ("json", r"(^|/)json/"),
    ("event loop (uvloop/asyncio)", r"(^|/)(asyncio|uvloop)/"),
    ("shared/auth", r"shared/auth/|shared/gateway_identity|shared/service_identity"),
    ("shared/audit", r"shared/audit/"),
    ("shared/sla", r"shared/sla/"),
    ("shared/texts+crypto", r"shared/(texts|crypto)\.py"),
    ("shared/http layer", r"shared/(request_guard|dbfaults|http|command_routes|idempotency|runner)\.py"),
    ("shared/store+commands", r"shared/(eventstore|commands|stream_commands|db_batch|decider|horizon)\.py"),
    ("shared/relay", r"shared/(relay|relay_repair|relay_check|topic_wakeups|commit_notifier)\.py"),
    ("shared/other", r"shared/"),
    ("service", r"services/"),
)
_FRAME = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)\s*$")
#: where a sample is, by the frames on its stack
PHASES = (
    ("outside any request (relay, consumers, Kafka client, the loop's own I/O)", None),
    ("request, outside the route function (server, middleware, routing, dependencies, body, response)", None),
    ("the route function (the service's command path)", None),
)


def layer_of(frame: str) -> str:
    match = _FRAME.search(frame)
    where = match.group("file") if match else frame
    for name, pattern in LAYERS:
        if re.search(pattern, where):
            return name
    return "other (stdlib, C extensions' callers)"


def phase_of(frames: Sequence[str]) -> int:
    """0: outside a request; 1: in a request, outside the route function; 2: in the route."""
    if not any("run_asgi" in f for f in frames):
        return 0
    return 2 if any(f.startswith("run_endpoint_function ") for f in frames) else 1


def summarise(raw: Path, top: int = 20) -> str:
    """py-spy's raw (collapsed) stacks → shares by phase, self and total shares per layer, and the
    top functions. Without ``--native`` the time in C (asyncpg's protocol, uvloop, socket writes)
    counts as the Python frame that called it."""
    self_by: Counter[str] = Counter()
    total_by: Counter[str] = Counter()
    phases: Counter[int] = Counter()
    funcs: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        phases[phase_of(frames)] += count
        self_by[layer_of(frames[-1])] += count
        funcs[frames[-1]] += count
        for name in {layer_of(f) for f in frames[1:]}:
            total_by[name] += count
    if not samples:
        return "  (no samples)"
    lines = [f"  {samples} samples"]
    lines += [f"  {100 * phases[i] / samples:5.1f} %  {label}" for i, (label, _) in enumerate(PHASES)]
    lines.append("  layer                               self %  total %")
    for name, count in self_by.most_common():
        lines.append(f"  {name:<35} {100 * count / samples:6.1f}  {100 * total_by[name] / samples:6.1f}")
    lines.append("  top self frames:")
    lines += [f"    {100 * c / samples:5.1f}  {f}" for f, c in funcs.most_common(top)]
    return "\n".join(lines)


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def profiled(pid: int, out: Path, load: Callable[[], Awaitable[object]]) -> str:
    """py-spy records ``pid`` (raw stacks to ``out``) while ``load()`` runs; the split by layer."""
    tool = py_spy()
    if tool is None:
        return "  py-spy not found (.venv/bin/pip install py-spy)"
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        *[tool, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)  # attached
        await load()
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        await spy.wait()
    return summarise(out) if out.exists() else "  py-spy wrote nothing (ptrace not permitted?)"


async def profile(
    pid: int, url: str, command: Command, out: Path, *, requests: int, connections: int, first: int
) -> str:
    async def load() -> None:
        async with LoadClient(url, connections) as http:
            send = functools.partial(send_with, http, command)
            await closed_loop(send, requests=requests, connections=connections, first=first)

    return await profiled(pid, out, load)


# ---------------------------------------------------------------------------------------- run


async def run(args: argparse.Namespace) -> list[Measured]:
    only = [s.strip() for s in args.services.split(",") if s.strip()]
    plan = commands.Plan(
        requests=2 * args.requests + 200,
        closed_seconds=60,
        connections=args.connections,
        rates=(),
        seconds=0,
        warmup=200,
        counted=0,
    )
    results: list[Measured] = []
    profile_dir = Path(args.profile) if args.profile else None
    async with infrastructure([]) as infra:
        broker = TansuBroker.start()
        try:
            await create_topics(broker.bootstrap_servers, all_topics())
            kafka = broker.bootstrap_servers
            database_url = await infra.new_database()
            todo: list[Group] = []
            if not args.no_reference:
                reference = ComplaintCreate(REFERENCE, 201, plan.branches)
                todo.append(Group("reference", REFERENCE_MODULE, [reference]))
            todo += [g for g in groups(plan) if not only or g.service in only]
            for group in todo:
                if group.publish is not None:
                    await group.publish(kafka)
                service = ServiceProcess(
                    group.service,
                    database_url=database_url,
                    kafka_bootstrap_servers=kafka,
                    env=ENV,
                    module=group.module,
                )
                progress(f"starting {group.service}")
                async with serving(service):
                    assert service.pid is not None
                    if group.prepare is not None:
                        async with LoadClient(service.url, args.connections) as http:
                            await group.prepare(http, args.connections)
                    for command in group.commands:
                        progress(f"{command.label}: {args.requests} requests, {args.connections} connections")
                        m = await measure(
                            service.pid,
                            service.url,
                            command,
                            requests=args.requests,
                            connections=args.connections,
                            first=0,
                        )
                        results.append(m)
                        print(_row(m), flush=True)
                        if profile_dir is not None:
                            name = re.sub(r"[^a-z0-9]+", "-", command.label.lower()).strip("-")
                            summary = await profile(
                                service.pid,
                                service.url,
                                command,
                                profile_dir / f"{name}.txt",
                                requests=args.requests,
                                connections=args.connections,
                                first=10**6,
                            )
                            print(f"profile of {command.label}:\n{summary}", flush=True)
        finally:
            broker.cleanup()
    return results


HEAD = (
    f"{'command':<42} {'requests':>8} {'gross ms':>9} {'net ms':>7} {'of it sys':>9} {'idle %core':>10}"
    f" {'req/s':>7}"
)


def _row(m: Measured) -> str:
    head = f"{m.label[:42]:<42} {m.requests:>8} {m.gross_ms:>9.2f} {m.net_ms:>7.2f} {m.sys_ms:>9.2f}"
    return f"{head} {m.idle_pct:>10.1f} {m.rate:>7.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_per_request", description=__doc__)
    parser.add_argument(
        "--services", default="complaint,reception", help="comma-separated (default: complaint,reception)"
    )
    parser.add_argument("--requests", type=int, default=1500, help="measured requests per command")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--profile", help="also profile each command (py-spy raw stacks here)")
    parser.add_argument("--no-reference", action="store_true", help="skip the bare reference endpoint")
    args = parser.parse_args()
    print(HEAD, flush=True)
    results = asyncio.run(run(args))
    print("\n== CPU ms per request (service process, utime+stime; net = minus its idle rate)")
    print(HEAD)
    for m in results:
        print(_row(m))


if __name__ == "__main__":
    main()
