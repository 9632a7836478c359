"""``python -m bench.idle_cpu [--seconds 60] [--services complaint,hqfeed,hq]``: the CPU each idle
service burns (issue 19: at most 2 % of a core each).

The services run as real processes against one fresh database and the broker (embedded Tansu unless
``KAFKA_BOOTSTRAP_SERVERS`` is set). One complaint goes through first (so every consumer has joined
its group and fetched, then gone idle); after ``--settle`` seconds, utime + stime of each process
(``/proc/<pid>/stat``) over ``--seconds`` is printed as a share of one core. Load-independent: a
process's own CPU time, not wall-clock latency.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

from bench.e2e import cpu_seconds, post, staff_of
from bench.infra import infrastructure
from tests.support.services import ServiceProcess, running_services

ENV = {
    "LOG_LEVEL": "WARNING",
    "BRANCHCARE_DEV_MODE": "1",
    "KAFKA_SESSION_TIMEOUT_MS": "10000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "3000",
}


async def main(services: list[str], seconds: float, settle: float) -> None:
    async with infrastructure([]) as infra:
        procs = [
            ServiceProcess(
                n, database_url=infra.database_url, kafka_bootstrap_servers=infra.bootstrap_servers, env=ENV
            )
            for n in services
        ]
        async with running_services(*procs, timeout=90):
            complaint = next((p for p in procs if p.name == "complaint"), None)
            if complaint is not None:
                async with httpx.AsyncClient(base_url=complaint.url, timeout=30) as http:
                    status, _ = await post(http, "idle-b1", 0)
                    staff_of("idle-b1")
                    print(f"one complaint: {status}")
            await asyncio.sleep(settle)
            before = {p.name: cpu_seconds(p.pid) for p in procs}
            await asyncio.sleep(seconds)
            used = {p.name: cpu_seconds(p.pid) - before[p.name] for p in procs}
    print(f"idle CPU over {seconds:.0f} s (after {settle:.0f} s to settle), share of one core:")
    for name, cpu in used.items():
        print(f"  {name}: {cpu * 100 / seconds:.2f} % ({cpu:.2f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--services", default="complaint,hqfeed,hq")
    args = parser.parse_args()
    asyncio.run(main(args.services.split(","), args.seconds, args.settle))
