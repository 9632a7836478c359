"""Each service's hottest command next to the bare reference endpoint, measured in the same run.

For every command: throughput closed loop (``connections`` clients, each sending as soon as it is
answered), p50/p99 at fixed open-loop rates, the ratio to :mod:`bench.reference` (bare FastAPI +
asyncpg, one INSERT) run the same way, and the PostgreSQL round trips, statements and commits per
command counted on the wire (:mod:`bench.pgwire`) in a short sequential run of its own (the proxy
is not in the way of the timed runs: the service is started again without it).

Each service runs alone with the broker (its relay publishes as in production); the commands and
what they act on are :mod:`bench.hot_commands`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass, field
from urllib.parse import urlsplit, urlunsplit

from bench.hot_commands import (
    Command,
    ComplaintAcknowledge,
    ComplaintCreate,
    FollowupComplete,
    SurveyAnswer,
    VisitArrival,
    VisitCall,
    staff_of,
)
from bench.http_client import LoadClient
from bench.infra import Infra
from bench.load import Outcome, closed_loop, open_loop
from bench.pgwire import RoundTripProxy, Tally
from bench.stats import Report, fmt, progress
from shared.devstack import TansuBroker, create_topics
from shared.topology import all_topics
from tests.support.services import ServiceProcess, running_services

SECTION = "3. hottest commands next to the bare reference (same run, each service alone)"
REFERENCE = "reference: bare FastAPI + asyncpg insert"
REFERENCE_MODULE = "bench.reference"


@dataclass(frozen=True)
class Plan:
    requests: int  # closed loop, after ``warmup`` requests
    closed_seconds: float  # ...or for at most this long
    connections: int
    rates: tuple[float, ...]
    seconds: float  # per open-loop rate
    warmup: int
    counted: int  # sequential commands whose round trips are counted
    branches: int = 200

    def needed(self) -> int:
        """Requests one command gets in all (what a lifecycle step needs prepared)."""
        return self.warmup + self.requests + sum(int(r * self.seconds) for r in self.rates) + self.counted + 3


FULL = Plan(
    requests=1000, closed_seconds=8, connections=32, rates=(100, 300), seconds=3, warmup=100, counted=40
)
QUICK = Plan(
    requests=60, closed_seconds=3, connections=8, rates=(50,), seconds=0.5, warmup=10, counted=5, branches=20
)


@dataclass
class Group:
    """One service process and its commands, in the order they run; ``publish`` puts what it
    reacts to on the broker before it starts, ``prepare`` readies what its commands act on."""

    service: str
    module: str
    commands: Sequence[Command]
    publish: Callable[[str], Awaitable[None]] | None = None
    prepare: Callable[[LoadClient, int], Awaitable[None]] | None = None


def groups(plan: Plan) -> list[Group]:
    complaints = ComplaintCreate("complaint create", 201, plan.branches)
    visits = VisitArrival("visit arrival (ticket issued)", 201, plan.branches)
    followups = FollowupComplete("follow-up complete", 200, count=plan.needed())
    surveys = SurveyAnswer("survey answer", 201, count=plan.needed())
    return [
        Group(
            "complaint",
            "services.complaint",
            [complaints, ComplaintAcknowledge("complaint acknowledge", 200, complaints)],
        ),
        Group("reception", "services.reception", [visits, VisitCall("visit call-next", 200, visits)]),
        Group(
            "followup", "services.followup", [followups], publish=followups.publish, prepare=followups.prepare
        ),
        Group("feedback", "services.feedback", [surveys], publish=surveys.publish, prepare=surveys.prepare),
    ]


@dataclass
class Measured:
    label: str
    closed: float = float("nan")
    at: dict[float, tuple[float, float, bool]] = field(default_factory=dict)
    tally: Tally | None = None
    failed: int = 0


async def run(report: Report, infra: Infra, plan: Plan, *, only: Sequence[str] = ()) -> list[Measured]:
    """The reference, then every group (or only those whose service is in ``only``)."""
    broker = TansuBroker.start()  # a broker of its own: the end-to-end part's HQ never sees this
    try:
        await create_topics(broker.bootstrap_servers, all_topics())
        return await _run(report, infra, plan, broker.bootstrap_servers, only)
    finally:
        broker.cleanup()


async def _run(report: Report, infra: Infra, plan: Plan, kafka: str, only: Sequence[str]) -> list[Measured]:
    results: list[Measured] = []
    database_url = await infra.new_database()
    env = {"LOG_LEVEL": "WARNING", "BRANCHCARE_DEV_MODE": "1"}
    reference = ServiceProcess(
        "reference",
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        env=env,
        module=REFERENCE_MODULE,
    )
    progress("starting the bare reference endpoint")
    async with serving(reference):
        results.append(
            await measure(
                report,
                reference.url,
                ComplaintCreate(REFERENCE, 201, plan.branches),
                plan,
            )
        )
    for group in groups(plan):
        if only and group.service not in only:
            continue
        if group.publish is not None:
            await group.publish(kafka)
        async with RoundTripProxy(*_host_port(database_url)) as proxy:
            proxied = ServiceProcess(
                group.service,
                database_url=_via(database_url, proxy.port),
                kafka_bootstrap_servers=kafka,
                env=env,
                module=group.module,
            )
            progress(f"{group.service}: counting round trips per command on the wire")
            async with serving(proxied):
                if group.prepare is not None:
                    async with LoadClient(proxied.url, plan.connections) as http:
                        await group.prepare(http, plan.connections)
                tallies = await count_round_trips(proxied.url, proxy, group, plan)
        service = ServiceProcess(
            group.service,
            database_url=database_url,
            kafka_bootstrap_servers=kafka,
            env=env,
            module=group.module,
        )
        progress(f"starting {group.service} for the timed runs")
        async with serving(service):
            for command, tally in zip(group.commands, tallies, strict=True):
                measured = await measure(report, service.url, command, plan)
                measured.tally = tally
                results.append(measured)
                add_tally(report, command.label, tally)
    add_ratios(report, results)
    return results


@asynccontextmanager
async def serving(process: ServiceProcess) -> AsyncIterator[None]:
    """The service running for the block; one slow to stop (still working off a backlog on a
    loaded machine) is killed rather than failing the benchmark."""
    async with running_services(process, timeout=60):
        try:
            yield
        finally:
            try:
                await process.terminate(30.0)
            except RuntimeError as exc:
                progress(f"{process.name}: {exc}; killed")
                process.kill()


async def send_with(http: LoadClient, command: Command, i: int) -> int:
    made = command.request(i)
    if made is None:
        return 0
    method, path, body, branch = made
    response = await http.request(method, path, json=body, headers=staff_of(branch))
    if response.status_code == command.status:
        command.answered(i, response.json())
    return response.status_code


async def measure(
    report: Report, url: str, command: Command, plan: Plan, *, section: str = SECTION
) -> Measured:
    """Warm-up, closed loop, then each open-loop rate; adds the figures to ``report`` under ``section``."""
    measured = Measured(command.label)
    next_index = 0

    open_total = sum(int(r * plan.seconds) for r in plan.rates)

    def budget(wanted: int, reserve: int = 0) -> int:
        """``wanted`` requests, or what is left for them when the command acts on prepared
        things (the closed loop leaves the open-loop runs their share)."""
        left = command.available()
        if left is None:
            return wanted
        return max(0, min(wanted, left - min(reserve, left // 2)))

    async with LoadClient(url, plan.connections) as http:
        send = functools.partial(send_with, http, command)
        warm = await closed_loop(
            send, requests=budget(plan.warmup), connections=plan.connections, seconds=plan.closed_seconds / 2
        )
        next_index += len(warm.samples)
        progress(
            f"{command.label}: closed loop, {plan.requests} requests (at most {plan.closed_seconds:.0f} s)"
            f" over {plan.connections} connections"
        )
        closed = await closed_loop(
            send,
            requests=budget(plan.requests, open_total),
            connections=plan.connections,
            first=next_index,
            seconds=plan.closed_seconds,
        )
        next_index += len(closed.samples)
        measured.closed = closed.rate(command.status)
        measured.failed += _failed(closed, command.status)
        report.add(
            section,
            f"{command.label}: closed loop, {plan.connections} connections",
            measured.closed,
            "cmd/s",
            f"{len(closed.samples):,} requests, {_failed(closed, command.status)} not {command.status}",
        )
        for rate in plan.rates:
            seconds = budget(int(rate * plan.seconds)) / rate
            if seconds <= 0:
                continue
            progress(f"{command.label}: open loop at {rate:.0f}/s for {seconds:.1f} s")
            outcome = await open_loop(send, rate=rate, seconds=seconds, first=next_index)
            next_index += len(outcome.samples)
            p50, p99 = outcome.latency_ms(50, command.status), outcome.latency_ms(99, command.status)
            measured.at[rate] = (p50, p99, outcome.saturated)
            measured.failed += _failed(outcome, command.status)
            note = (
                "SATURATED"
                if outcome.saturated
                else f"{_failed(outcome, command.status)} not {command.status}"
            )
            report.add(section, f"{command.label}: p50 at {rate:.0f}/s", p50, "ms")
            report.add(section, f"{command.label}: p99 at {rate:.0f}/s", p99, "ms", note)
    return measured


def _failed(outcome: Outcome, status: int) -> int:
    return sum(1 for s in outcome.samples if s.status != status)


#: the service's background (dispatch rounds, schedulers, gauge refreshes) is measured over idle
#: windows of at least this long, before and after each command's counted run: periodic work lands
#: a whole number of rounds in a window, so one idle second, scaled to the run, was off by whole
#: rounds (the survey answer came out at -0.6 round trips)
IDLE_SECONDS = 5.0


async def count_round_trips(url: str, proxy: RoundTripProxy, group: Group, plan: Plan) -> list[Tally | None]:
    """Per command: warm up (prepared statements), wait for the pool to go quiet, then
    ``plan.counted`` commands one at a time; the pool's background rate, over the idle windows
    around the counted runs (``IDLE_SECONDS`` each, at least as long as the run), times the run's
    length is subtracted. What the service's own consumers do in reaction within the window (e.g.
    a projection of its own events) counts: it is work the command causes."""
    tallies: list[Tally | None] = []
    async with LoadClient(url, 1) as http:
        for command in group.commands:
            for i in range(3):  # the first commands prepare their statements
                await send_with(http, command, 10**6 + i)
        await quiet(proxy, group.service)
        idle, idle_seconds = await idle_window(proxy, group.service, IDLE_SECONDS)
        for command in group.commands:
            before, started = proxy.tally(group.service), time.monotonic()
            done = 0
            for i in range(plan.counted):
                if await send_with(http, command, 2 * 10**6 + i) == command.status:
                    done += 1
            await asyncio.sleep(0.2)  # work after the response (e.g. an audit row) lands too
            spent, seconds = proxy.tally(group.service).minus(before), time.monotonic() - started
            await quiet(proxy, group.service)
            after, after_seconds = await idle_window(proxy, group.service, max(IDLE_SECONDS, seconds))
            idle, idle_seconds = idle.plus(after), idle_seconds + after_seconds
            background = Tally(*(v * seconds / idle_seconds for v in astuple(idle)))
            per = spent.minus(background)
            tallies.append(Tally(*(round(v / done, 1) for v in astuple(per))) if done else None)
            progress(
                f"{command.label}: {spent.round_trips:g} round trips in {seconds:.1f} s for {done} commands,"
                f" {background.round_trips:.1f} of them background"
                f" ({idle.round_trips:g} in {idle_seconds:.1f} s idle)"
            )
    return tallies


async def idle_window(proxy: RoundTripProxy, service: str, seconds: float) -> tuple[Tally, float]:
    """The service's traffic over ``seconds`` without commands, and how long that really was."""
    before, started = proxy.tally(service), time.monotonic()
    await asyncio.sleep(seconds)
    return proxy.tally(service).minus(before), time.monotonic() - started


async def quiet(proxy: RoundTripProxy, service: str, patience: float = 20.0) -> None:
    """Wait until the service's pool is (nearly) idle: its consumers caught up with what was
    published or made before, so their work is not counted as the commands'."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        before = proxy.tally(service)
        await asyncio.sleep(0.5)
        if proxy.tally(service).minus(before).round_trips <= 1:
            return
    progress(f"{service}: its pool did not go quiet; round trips include background work")


def add_tally(report: Report, label: str, tally: Tally | None) -> None:
    if tally is None:
        return
    note = (
        f"{tally.statements:g} statements, {tally.commits:g} commits, {tally.resets:g} pool checkouts"
        " (on the wire)"
    )
    report.add(SECTION, f"{label}: PostgreSQL round trips per command", tally.round_trips, "", note)


def add_ratios(report: Report, results: list[Measured]) -> None:
    reference = next((m for m in results if m.label == REFERENCE), None)
    if reference is None:
        return
    for m in results:
        if m is not reference:
            report.add(SECTION, f"{m.label}: / reference", m.closed / reference.closed, "×", "closed loop")


def summary(results: list[Measured], rates: Sequence[float]) -> str:
    """The one table to read: per command its rate, ratio, latencies and round trips."""
    reference = next((m for m in results if m.label == REFERENCE), None)
    head = ["command", "cmd/s", "/ ref"] + [f"p50|p99 @{r:.0f}/s" for r in rates] + ["round trips"]
    rows = [head]
    for m in results:
        ratio = m.closed / reference.closed if reference else float("nan")
        cells = [m.label, fmt(m.closed), fmt(ratio)]
        for r in rates:
            p50, p99, saturated = m.at.get(r, (float("nan"), float("nan"), False))
            cells.append(f"{fmt(p50)} | {fmt(p99)} ms" + (" SAT" if saturated else ""))
        cells.append(fmt(m.tally.round_trips) if m.tally else "-")
        rows.append(cells)
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    lines = [
        "  ".join(
            cell.ljust(w) if c == 0 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(["", "== summary: hottest commands", *lines])


def _host_port(database_url: str) -> tuple[str, int]:
    parts = urlsplit(database_url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _via(database_url: str, port: int) -> str:
    """``database_url`` with its server replaced by the local proxy."""
    parts = urlsplit(database_url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))
