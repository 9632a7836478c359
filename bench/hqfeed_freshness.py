"""``python -m bench.hqfeed_freshness [--rate 100] [--seconds 10]``: HQ's freshness through the contract.

Branch events (``ComplaintReceived``, as the complaint service's relay publishes them when a command
is accepted) are put on ``complaint.events.v1`` at ``--rate`` per second over 50 branches; the real
``hqfeed`` and ``hq`` processes run in between. Freshness of an event = the moment HQ's read model
(what ``GET /hq/branches/{b}`` reads: ``complaints_received``) shows it − the moment it was
published; polled every 10 ms. Short by design (about 30 s with start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from bench.infra import infrastructure
from bench.stats import percentile
from services.simulator.envelopes import EnvelopeFactory, producer
from shared.contracts.refs import synthetic_ref
from tests.support.services import ServiceProcess, running_services

BRANCHES = 50
QUERY = "SELECT branch_id, complaints_received FROM branch_complaints WHERE branch_id = ANY($1)"
ENV = {
    "LOG_LEVEL": "WARNING",
    "BRANCHCARE_DEV_MODE": "1",
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "2000",
}


async def main(rate: float, seconds: float) -> None:
    async with infrastructure([]) as infra:
        procs = [
            ServiceProcess(
                n, database_url=infra.database_url, kafka_bootstrap_servers=infra.bootstrap_servers, env=ENV
            )
            for n in ("hqfeed", "hq")
        ]
        async with running_services(*procs, timeout=90):
            run = uuid.uuid4().hex[:6]
            branches = [f"fresh-{run}-{i}" for i in range(BRANCHES)]
            factory = EnvelopeFactory()
            sent: dict[str, list[float]] = {b: [] for b in branches}
            seen: dict[str, int] = dict.fromkeys(branches, 0)
            samples: list[float] = []
            prod = producer(infra.bootstrap_servers, linger_ms=1)
            await prod.start()
            conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": "hq"})
            done = asyncio.Event()

            async def poll() -> None:
                while not done.is_set() or sum(seen.values()) < sum(map(len, sent.values())):
                    rows = await conn.fetch(QUERY, branches)
                    now = time.perf_counter()
                    for r in rows:
                        b, n = r["branch_id"], int(r["complaints_received"])
                        for k in range(seen[b], min(n, len(sent[b]))):
                            samples.append(now - sent[b][k])
                        seen[b] = max(seen[b], min(n, len(sent[b])))
                    await asyncio.sleep(0.01)

            poller = asyncio.create_task(poll())
            # warm-up: one event per branch, wait until HQ shows them (group joins, topic metadata)
            start = time.perf_counter()
            for i in range(int(rate * seconds) + BRANCHES):
                if i == BRANCHES:
                    while sum(seen.values()) < BRANCHES:  # noqa: ASYNC110  (the poller fills it)
                        await asyncio.sleep(0.05)
                    samples.clear()
                    start = time.perf_counter()
                b = branches[i % BRANCHES]
                made = factory.complaint(
                    b, datetime.now(UTC), customer_ref=synthetic_ref(f"fresh-{run}-{i}"), steps="received"
                )[0]
                if i >= BRANCHES:
                    await asyncio.sleep(max(0.0, start + (i - BRANCHES) / rate - time.perf_counter()))
                sent[b].append(time.perf_counter())
                await prod.send(made.topic, made.envelope.model_dump_json().encode(), key=b.encode())
            done.set()
            await asyncio.wait_for(poller, timeout=60)
            await prod.stop()
            await conn.close()
            samples.sort()
            p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
            print(
                f"HQ freshness through hqfeed, {rate:.0f} events/s, {seconds:.0f} s, {len(samples)} events:"
            )
            print(f"  p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {samples[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
