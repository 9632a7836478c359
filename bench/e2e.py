"""End to end: HTTP POST to the complaint service → store → relay → Kafka → HQ's read model.

complaint and hq run as real processes. Complaints are POSTed at a steady offered rate with
open-loop scheduling (request i is due at ``start + i / rate`` whether or not earlier ones have
been answered), so a slow system cannot slow the load down and hide its own latency.

How "HQ shows it" is observed: every request goes to one of ``branches`` branches, round-robin,
and a watcher polls HQ's own table ``hq.branch_complaints`` every ~2 ms over one connection and
timestamps each rise of a branch's count. The k-th complaint sent to a branch counts as visible
when that branch's count first reaches k. Latency = visible time - the request's scheduled send
time (which includes any time the request waited for a free connection). The attribution within
one branch can swap two complaints committed in the other order; both are ~2 ms apart at most.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.http_client import HTTPError, LoadClient
from bench.infra import Infra
from bench.load import MAX_BACKLOG_SECONDS, open_loop
from bench.stats import Report, percentile, progress
from shared.contracts.refs import synthetic_ref
from tests.support.auth import lobby_manager
from tests.support.services import ServiceProcess, running_services

SECTION = "4. end to end (HTTP POST → HQ read model)"
POLL_SECONDS = 0.002


@dataclass
class Sent:
    branch: str
    due: float
    answered: float = 0.0
    status: int = 0


@dataclass
class Watcher:
    """Timestamps every rise of a watched branch's complaint count in HQ's table."""

    database_url: str
    branches: list[str]
    seen: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    polls: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            query = await conn.prepare(
                "SELECT branch_id, complaints_received FROM hq.branch_complaints"
                " WHERE branch_id = ANY($1::text[])"
            )
            while not self._stop.is_set():
                rows = await query.fetch(self.branches)
                now = time.monotonic()
                self.polls += 1
                for row in rows:
                    times = self.seen[row["branch_id"]]
                    times.extend([now] * (row["complaints_received"] - len(times)))
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await conn.close()

    def visible(self) -> int:
        return sum(len(v) for v in self.seen.values())

    async def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` complaints are visible, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.visible() < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def settle(self, quiet: float, timeout: float) -> None:
        """Wait until no complaint became visible for ``quiet`` seconds (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        seen, since = self.visible(), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.visible() != seen:
                seen, since = self.visible(), time.monotonic()

    def stop(self) -> None:
        self._stop.set()


async def run(
    report: Report,
    infra: Infra,
    *,
    label: str,
    module: str,
    rates: Sequence[float],
    seconds: float,
    warmup: float,
    branches: int,
    connections: int,
    client: str = "raw",
) -> None:
    """End-to-end measurements at each of ``rates`` with ``module`` as the complaint service, in a
    database of its own (the services are started once; each rate gets fresh branches)."""
    section = f"{SECTION}, {label}"
    database_url = await infra.new_database()
    env = {
        "LOG_LEVEL": "WARNING",
        "KAFKA_SESSION_TIMEOUT_MS": "10000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "3000",
        "BRANCHCARE_DEV_MODE": "1",  # development keys (tokens below are signed to match)
    }
    kafka = infra.bootstrap_servers
    complaint = ServiceProcess(
        "complaint", database_url=database_url, kafka_bootstrap_servers=kafka, env=env, module=module
    )
    hq = ServiceProcess("hq", database_url=database_url, kafka_bootstrap_servers=kafka, env=env)
    # HQ reads the branch side's aggregated contract: the aggregator runs between them
    feed = ServiceProcess("hqfeed", database_url=database_url, kafka_bootstrap_servers=kafka, env=env)
    progress(f"starting {module}, hqfeed and hq")
    async with running_services(complaint, feed, hq, timeout=60):
        async with load_client(client, complaint.url, connections) as http:
            run_id = uuid.uuid4().hex[:6]
            first_rate = rates[0]
            progress(
                f"warming up for {warmup:.0f} s at {first_rate:.0f}/s, until HQ shows the warm-up complaints"
            )
            warm = Watcher(database_url, [f"warm-{run_id}-{b}" for b in range(branches)])
            warming = asyncio.create_task(warm.run())
            warm_sent = await offer(http, warm.branches, first_rate, warmup)
            # HQ consumes in a background task: its group join may still be under way
            await warm.wait_for(sum(1 for s in warm_sent if s.status == 201), timeout=60)
            warm.stop()
            await warming
            for rate in rates:
                names = [f"e2e-{run_id}-{rate:.0f}-{b}" for b in range(branches)]
                watcher = Watcher(database_url, names)
                watching = asyncio.create_task(watcher.run())
                progress(
                    f"offering {rate:.0f} complaints/s for {seconds:.0f} s over {connections} connections"
                )
                sent = await offer(http, names, rate, seconds)
                accepted = [s for s in sent if s.status == 201]
                await watcher.wait_for(len(accepted), timeout=30)
                if len(accepted) < len(sent):  # requests given up on may still be committed
                    progress("letting the service work off what it was still given")
                    await watcher.settle(quiet=2.0, timeout=30)
                watcher.stop()
                await watching
                record(report, section, f"at {rate:.0f}/s: ", sent, watcher, rate, seconds)


def record(
    report: Report, section: str, prefix: str, sent: list[Sent], watcher: Watcher, rate: float, seconds: float
) -> None:
    accepted = [s for s in sent if s.status == 201]
    latencies = e2e_latencies(sent, watcher)
    answered = [s.answered - s.due for s in accepted]
    span = max(s.answered for s in sent) - min(s.due for s in sent)
    note = f"{len(sent):,} requests, open loop"
    if len(sent) < int(rate * seconds):
        note += f"; SATURATED: stopped offering with {MAX_BACKLOG_SECONDS:.0f} s of requests outstanding"
    report.add(section, f"{prefix}offered rate", len(sent) / seconds, "cmd/s", note)
    report.add(
        section,
        f"{prefix}answered 201",
        len(accepted) / span,
        "cmd/s",
        f"{sum(1 for s in sent if s.status < 0)} unanswered or failed,"
        f" {sum(1 for s in sent if s.status >= 0 and s.status != 201)} answered but not 201",
    )
    report.add(section, f"{prefix}HTTP response p50", percentile(answered, 50) * 1000, "ms")
    report.add(section, f"{prefix}HTTP response p99", percentile(answered, 99) * 1000, "ms")
    report.add(section, f"{prefix}HTTP → HQ p50", percentile(latencies, 50) * 1000, "ms")
    report.add(section, f"{prefix}HTTP → HQ p99", percentile(latencies, 99) * 1000, "ms")
    report.add(section, f"{prefix}HTTP → HQ max", max(latencies, default=float("nan")) * 1000, "ms")
    missing = len(accepted) - len(latencies)
    report.add(
        section, f"{prefix}not visible at HQ after 30 s", missing, "cmd", f"watcher polls: {watcher.polls:,}"
    )


async def offer(http: Any, branches: list[str], rate: float, seconds: float) -> list[Sent]:
    """POST ``rate`` complaints per second for ``seconds`` (open loop, :func:`bench.load.open_loop`)."""

    async def send(i: int) -> int:
        return await post(http, branches[i % len(branches)], i)

    outcome = await open_loop(send, rate=rate, seconds=seconds)
    return [Sent(branches[s.index % len(branches)], s.due, s.answered, s.status) for s in outcome.samples]


@functools.cache
def staff_of(branch: str) -> dict[str, str]:
    """A lobby manager of ``branch`` (one token per branch, minted once)."""
    return lobby_manager(branch)


async def post(http: Any, branch: str, i: int) -> int:
    body = {
        "channel": "in_branch",
        "customer_ref": synthetic_ref(f"bench-{i}"),
        "description": "queue too long",
    }
    try:
        response = await http.post(f"/branches/{branch}/complaints", json=body, headers=staff_of(branch))
    except (httpx.HTTPError, HTTPError):
        return -1
    return response.status_code


def load_client(kind: str, base_url: str, connections: int) -> Any:
    """The load generator's HTTP client: the lean one (default) or httpx, for comparison."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)
    return LoadClient(base_url, connections)


def e2e_latencies(sent: list[Sent], watcher: Watcher) -> list[float]:
    """Match the k-th accepted complaint of each branch with the k-th rise of its count."""
    per_branch: dict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        if item.status == 201:
            per_branch[item.branch].append(item)
    latencies: list[float] = []
    for branch, items in per_branch.items():
        visible = watcher.seen.get(branch, [])
        for item, at in zip(sorted(items, key=lambda s: s.due), visible, strict=False):
            latencies.append(at - item.due)
    return latencies
