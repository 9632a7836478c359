"""CPU ms per request of two revisions side by side, under the same machine load.

``python -m bench.cpu_ab --against DIR [--services complaint,reception] [--rounds 6] [--chunk 250]``
(``followup``, ``feedback``: their commands act on cases each side prepares first, as
:mod:`bench.cpu_per_request` does, so ``--rounds`` × ``--chunk`` + 400 of them are made per side)

:mod:`bench.cpu_per_request` measures one revision; on a machine whose load changes from minute to
minute (other jobs on the same two cores), CPU per request still drifts by 10-30 % between two runs
minutes apart (caches and cores are shared). This runs the same service from this checkout and from
``DIR`` (another checkout, e.g. ``git worktree add /tmp/base main``) at the same time, each with
its own database and broker, and offers the load in alternating chunks (A, B, B, A, A, B, …), so
both see the same conditions. Per command: CPU ms per request of each (utime+stime of the service
process over its chunks, its idle rate subtracted) and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import commands
from bench.commands import Group, groups, send_with, serving
from bench.cpu_per_request import ENV, cpu_seconds
from bench.hot_commands import Command
from bench.http_client import LoadClient
from bench.infra import infrastructure
from bench.load import closed_loop
from bench.stats import progress
from shared.devstack import TansuBroker, create_topics, die_with_parent
from shared.topology import all_topics
from tests.support.services import ServiceProcess


class ServiceIn(ServiceProcess):
    """A service started from another checkout (its ``python -m`` runs with that directory first
    on ``sys.path``), with this interpreter and environment."""

    def __init__(self, root: Path, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.root = root

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # closed when the process ends
        self._proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


@dataclass
class Side:
    name: str
    service: ServiceProcess
    command: Command
    cpu: float = 0.0
    window: float = 0.0
    ok: int = 0
    idle_rate: float = 0.0
    next_index: int = 0
    rates: list[float] = field(default_factory=list)

    def ms(self) -> float:
        if not self.ok:
            return float("nan")
        return max(0.0, self.cpu - self.idle_rate * self.window) / self.ok * 1000


async def chunk(side: Side, requests: int, connections: int) -> None:
    pid = side.service.pid
    assert pid is not None
    async with LoadClient(side.service.url, connections) as http:
        send = functools.partial(send_with, http, side.command)
        before, started = cpu_seconds(pid), time.monotonic()
        outcome = await closed_loop(send, requests=requests, connections=connections, first=side.next_index)
        await settled(side)  # what follows the answers (relay, audit, reactions) lands in the window
        side.cpu += cpu_seconds(pid) - before
        side.window += time.monotonic() - started
    side.next_index += len(outcome.samples)
    side.ok += len(outcome.ok(side.command.status))


async def settled(side: Side, step: float = 0.5, patience: float = 15.0) -> None:
    """Wait until the service is back to its idle rate (half a second at most 5 % of a core above
    it): work the answers set off after them (the relay, a consumer reacting to the service's own
    events, the audit rows) is counted with them, not left to the other side's chunk."""
    pid = side.service.pid
    assert pid is not None
    await asyncio.sleep(step)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(step)
        if (cpu_seconds(pid) - before) / step <= side.idle_rate + 0.05:
            return


async def idle_rate(side: Side, seconds: float = 2.0) -> None:
    pid = side.service.pid
    assert pid is not None
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    side.idle_rate = (cpu_seconds(pid) - before) / (time.monotonic() - started)


async def run(args: argparse.Namespace) -> None:
    only = [s.strip() for s in args.services.split(",") if s.strip()]
    per_command = args.rounds * args.chunk + 200
    plan = commands.Plan(
        requests=per_command,
        closed_seconds=60,
        connections=args.connections,
        rates=(),
        seconds=0,
        warmup=200,
        counted=0,
    )
    other = Path(args.against).resolve()
    async with infrastructure([]) as infra:
        brokers = [TansuBroker.start(), TansuBroker.start()]
        try:
            for broker in brokers:
                await create_topics(broker.bootstrap_servers, all_topics())
            databases = [await infra.new_database(), await infra.new_database()]
            mine_groups, their_groups = groups(plan), groups(plan)
            for mine, theirs in zip(mine_groups, their_groups, strict=True):
                if only and mine.service not in only:
                    continue
                for group, broker in ((mine, brokers[0]), (theirs, brokers[1])):
                    if group.publish is not None:  # what it acts on, each side on its own broker
                        await group.publish(broker.bootstrap_servers)
                await compare(mine, theirs, other, databases, brokers, args)
        finally:
            for broker in brokers:
                broker.cleanup()


async def compare(
    mine: Group,
    theirs: Group,
    other: Path,
    databases: list[str],
    brokers: list[TansuBroker],
    args: argparse.Namespace,
) -> None:
    here = ServiceProcess(
        mine.service,
        database_url=databases[0],
        kafka_bootstrap_servers=brokers[0].bootstrap_servers,
        env=ENV,
        module=mine.module,
    )
    there = ServiceIn(
        other,
        theirs.service,
        database_url=databases[1],
        kafka_bootstrap_servers=brokers[1].bootstrap_servers,
        env=ENV,
        module=theirs.module,
    )
    progress(f"starting {mine.service} from here and from {other}")
    async with serving(here), serving(there):
        for group, service in ((mine, here), (theirs, there)):
            if group.prepare is not None:
                async with LoadClient(service.url, args.connections) as http:
                    await group.prepare(http, args.connections)
        for a_command, b_command in zip(mine.commands, theirs.commands, strict=True):
            sides = [Side("this checkout", here, a_command), Side(str(other), there, b_command)]
            for side in sides:  # warm up: statements prepared, caches filled
                await chunk(side, 200, args.connections)
                side.cpu = side.window = side.ok = 0
            for side in sides:
                await idle_rate(side)
            progress(f"{a_command.label}: {args.rounds} rounds of {args.chunk} requests each, alternating")
            for r in range(args.rounds):
                for side in sides if r % 2 == 0 else reversed(sides):
                    await chunk(side, args.chunk, args.connections)
            a, b = sides
            print(
                f"{a_command.label:<32} this {a.ms():6.2f} ms ({a.ok} req)   {other.name} {b.ms():6.2f} ms"
                f" ({b.ok} req)   this/other {a.ms() / b.ms():5.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_ab", description=__doc__)
    parser.add_argument("--against", required=True, help="another checkout of the repository")
    parser.add_argument("--services", default="complaint,reception")
    parser.add_argument("--rounds", type=int, default=6, help="chunks per side (alternating)")
    parser.add_argument("--chunk", type=int, default=250, help="requests per chunk")
    parser.add_argument("--connections", type=int, default=8)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
