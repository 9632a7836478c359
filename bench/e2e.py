"""End to end: HTTP POST to the complaint service → store → relay → Kafka → HQ's read model.

complaint and hq run as real processes. Complaints are POSTed at a steady offered rate with
open-loop scheduling (request i is due at ``start + i / rate`` whether or not earlier ones have
been answered), so a slow system cannot slow the load down and hide its own latency.

How "HQ shows it" is observed, two ways, by one watcher polling every ~2 ms over one connection:

- **the case** (``HTTP → HQ``, issue 19's figure): the complaint's row in ``hq.complaints``, HQ's
  per-case facts (``ComplaintFactsUpdated``, which the aggregator publishes within
  ``HQFEED_CASE_LINGER_MS`` of folding it). Each accepted POST answers the complaint's id; the
  watcher looks the ids not seen yet up by primary key and timestamps each one's first sighting.
- **the KPI count** (``HTTP → HQ KPI count``): ``hq.branch_complaints``, HQ's per-branch
  ``complaints_received``, which comes with the branch's KPI delta: at most one per branch per
  aggregator window (``HQFEED_WINDOW_SECONDS``, 1 s), by design (HQ's input volume). Every request
  goes to one of ``branches`` branches, round-robin; the k-th complaint sent to a branch counts as
  visible when that branch's count first reaches k (the attribution within one branch can swap two
  complaints committed in the other order; both are ~2 ms apart at most).

Latency = visible time - the request's scheduled send time (which includes any time the request
waited for a free connection).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench import hops
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
    complaint_id: str | None = None


@dataclass
class Watcher:
    """Timestamps every rise of a watched branch's complaint count in HQ's table, and the first
    sighting of each watched complaint's row in HQ's per-case table."""

    database_url: str
    branches: list[str]
    seen: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: complaint ids to look for (added as the POSTs answer them) → first seen in ``hq.complaints``
    cases: dict[str, float | None] = field(default_factory=dict)
    polls: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, complaint_id: str) -> None:
        self.cases.setdefault(complaint_id, None)

    async def run(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            counts = await conn.prepare(
                "SELECT branch_id, complaints_received FROM hq.branch_complaints"
                " WHERE branch_id = ANY($1::text[])"
            )
            cases = await conn.prepare(
                "SELECT complaint_id::text AS id FROM hq.complaints WHERE complaint_id = ANY($1::uuid[])"
            )
            while not self._stop.is_set():
                rows = await counts.fetch(self.branches)
                now = time.monotonic()
                self.polls += 1
                for row in rows:
                    times = self.seen[row["branch_id"]]
                    times.extend([now] * (row["complaints_received"] - len(times)))
                waiting = [cid for cid, at in self.cases.items() if at is None]
                if waiting:
                    found = await cases.fetch(waiting)
                    now = time.monotonic()
                    for row in found:
                        self.cases[row["id"]] = now
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await conn.close()

    def visible(self) -> int:
        """Complaints visible both ways (the KPI count is the later one, by design)."""
        counted = sum(len(v) for v in self.seen.values())
        return min(counted, sum(1 for at in self.cases.values() if at is not None)) if self.cases else counted

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
            warm_sent = await offer(http, warm.branches, first_rate, warmup, warm)
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
                cpu = {p.name: cpu_seconds(p.pid) for p in (feed, hq)}
                since = time.time()
                sent = await offer(http, names, rate, seconds, watcher)
                accepted = [s for s in sent if s.status == 201]
                await watcher.wait_for(len(accepted), timeout=30)
                if len(accepted) < len(sent):  # requests given up on may still be committed
                    progress("letting the service work off what it was still given")
                    await watcher.settle(quiet=2.0, timeout=30)
                watcher.stop()
                await watching
                prefix = f"at {rate:.0f}/s: "
                record(report, section, prefix, sent, watcher, rate, seconds)
                for p in (feed, hq):
                    used = cpu_seconds(p.pid) - cpu[p.name]
                    report.add(
                        section,
                        f"{prefix}{p.name} CPU per accepted complaint",
                        used * 1000 / max(len(accepted), 1),
                        "ms",
                        "utime+stime of the process over the run",
                    )
                run_branches = f"e2e-{run_id}-{rate:.0f}-"
                await per_hop(
                    report, section, prefix, infra, database_url, run_branches, since, sent, watcher
                )
                await hq_input(report, section, prefix, database_url, run_branches, len(accepted))


async def per_hop(
    report: Report,
    section: str,
    prefix: str,
    infra: Infra,
    database_url: str,
    branch_prefix: str,
    since: float,
    sent: list[Sent],
    watcher: Watcher,
) -> None:
    """Where the time between the command and HQ goes (:mod:`bench.hops`), p50 and p99 per hop."""
    shown = {
        s.complaint_id: hops.wall(at)
        for s in sent
        if s.complaint_id and (at := watcher.cases.get(s.complaint_id))
    }
    stamps = await hops.collect(
        database_url, infra.bootstrap_servers, branch_prefix=branch_prefix, since=since, shown=shown
    )
    answered = {s.complaint_id: hops.wall(s.answered) for s in sent if s.complaint_id}
    after = [answered[c] - t["recorded"] for c, t in stamps.at.items() if c in answered and "recorded" in t]
    rows = [("command recorded → HTTP answer", "the response after the command's decision", after)]
    rows += stamps.hops()
    for name, what, samples in rows:
        report.add(section, f"{prefix}hop {name} p50", percentile(samples, 50) * 1000, "ms", what)
        report.add(
            section, f"{prefix}hop {name} p99", percentile(samples, 99) * 1000, "ms", f"{len(samples)} cases"
        )


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def hq_input(
    report: Report, section: str, prefix: str, database_url: str, branch_prefix: str, complaints: int
) -> None:
    """HQ's input for the run's branches: the aggregator's contract records, by type."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT type, count(*) AS n, sum(octet_length(data::text)) AS bytes FROM hqfeed.events
               WHERE branch_id LIKE $1 GROUP BY type ORDER BY type""",
            branch_prefix + "%",
        )
    finally:
        await conn.close()
    for row in rows:
        report.add(
            section,
            f"{prefix}HQ input: {row['type']}",
            row["n"],
            "records",
            f"{row['bytes'] / max(row['n'], 1):.0f} B of data each;"
            f" {row['n'] / max(complaints, 1):.2f} per complaint",
        )


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
    cases = case_latencies(sent, watcher)
    case = "the case (hq.complaints)"
    report.add(section, f"{prefix}HTTP → HQ p50", percentile(cases, 50) * 1000, "ms", case)
    report.add(section, f"{prefix}HTTP → HQ p99", percentile(cases, 99) * 1000, "ms", case)
    report.add(section, f"{prefix}HTTP → HQ max", max(cases, default=float("nan")) * 1000, "ms")
    after = case_latencies(sent, watcher, since_answer=True)
    note = "from the HTTP answer: the branch side after the command, without its queueing"
    report.add(section, f"{prefix}answer → HQ p50", percentile(after, 50) * 1000, "ms", note)
    report.add(section, f"{prefix}answer → HQ p99", percentile(after, 99) * 1000, "ms", note)
    note = "hq.branch_complaints: one KPI delta per branch per hqfeed window"
    report.add(section, f"{prefix}HTTP → HQ KPI count p50", percentile(latencies, 50) * 1000, "ms", note)
    report.add(section, f"{prefix}HTTP → HQ KPI count p99", percentile(latencies, 99) * 1000, "ms", note)
    missing = len(accepted) - min(len(latencies), len(cases))
    report.add(
        section, f"{prefix}not visible at HQ after 30 s", missing, "cmd", f"watcher polls: {watcher.polls:,}"
    )


async def offer(http: Any, branches: list[str], rate: float, seconds: float, watcher: Watcher) -> list[Sent]:
    """POST ``rate`` complaints per second for ``seconds`` (open loop, :func:`bench.load.open_loop`);
    each accepted complaint's id goes to ``watcher``."""
    ids: dict[int, str] = {}

    async def send(i: int) -> int:
        status, complaint_id = await post(http, branches[i % len(branches)], i)
        if complaint_id is not None:
            ids[i] = complaint_id
            watcher.expect(complaint_id)
        return status

    outcome = await open_loop(send, rate=rate, seconds=seconds)
    return [
        Sent(branches[s.index % len(branches)], s.due, s.answered, s.status, ids.get(s.index))
        for s in outcome.samples
    ]


@functools.cache
def staff_of(branch: str) -> dict[str, str]:
    """A lobby manager of ``branch`` (one token per branch, minted once)."""
    return lobby_manager(branch)


async def post(http: Any, branch: str, i: int) -> tuple[int, str | None]:
    """The answer's status and, if accepted, the complaint's id."""
    body = {
        "channel": "in_branch",
        "customer_ref": synthetic_ref(f"bench-{i}"),
        "description": "queue too long",
    }
    try:
        response = await http.post(f"/branches/{branch}/complaints", json=body, headers=staff_of(branch))
    except (httpx.HTTPError, HTTPError):
        return -1, None
    if response.status_code != 201:
        return response.status_code, None
    return 201, str(response.json()["complaint_id"])


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


def case_latencies(sent: list[Sent], watcher: Watcher, *, since_answer: bool = False) -> list[float]:
    """Each accepted complaint's first sighting in ``hq.complaints`` minus its due time (or the
    time its answer came)."""
    out: list[float] = []
    for item in sent:
        at = watcher.cases.get(item.complaint_id or "")
        if item.status == 201 and at is not None:
            out.append(at - (item.answered if since_answer else item.due))
    return out
