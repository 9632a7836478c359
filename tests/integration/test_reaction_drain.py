"""How fast follow-up and feedback drain a backlog of reactions, and how many statements each
event costs (issue 19: "the whole pipeline keeps up").

A backlog of ``DRAIN_EVENTS`` events (default 1,000; 2,000 for the figures in the README) is
published to a broker of the test's own before the service starts; the test times the drain
(first applied reaction to the last), the process's CPU per event and the consumer lag it
reports, and counts the statements of the consumer's transactions (``shared.db_statements``: the
parts that touch ``projection_positions``). The rate is indicative (a shared machine); the
statement count per batch is exact (per event it depends on how the records arrive in batches)
and is what the assertion guards::

    DRAIN_EVENTS=2000 .venv/bin/python -m pytest -s tests/integration/test_reaction_drain.py
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from services.feedback.config import FeedbackConfig
from shared import db_statements
from shared.contracts.complaint import Channel, ComplaintClosed, ComplaintReceived
from shared.contracts.reception import ServiceType, VisitServed
from shared.envelope import Envelope, to_json
from shared.metrics import CONSUMER_LAG
from tests.integration.followup.steps import T0
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.texts import ref

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("DRAIN_EVENTS", "1000"))
BRANCHES = 20
#: statements per reacting event, drained as a backlog (issue 19: 5 per event before batching)
BUDGET_PER_EVENT = 0.2


async def _publish(bootstrap: str, topic: str, envs: list[Envelope]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, to_json(e), key=e.branch_id.encode()) for e in envs]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _complaints(n: int) -> list[Envelope]:
    out = []
    for i in range(n):
        complaint_id = uuid4()
        data = ComplaintReceived(
            complaint_id=complaint_id,
            channel=Channel.in_branch,
            customer_ref=f"cust_ref_{i:05d}",
            description=ref("card swallowed by the ATM"),
            received_at=T0,
        )
        out.append(Stream(f"complaint-{complaint_id}", f"dr-{i % BRANCHES:03d}", at=T0).next(data))
    return out


def _visits(n: int) -> list[Envelope]:
    out = []
    for i in range(n):
        visit_id = uuid4()
        data = VisitServed(
            visit_id=visit_id,
            service_type=ServiceType.transfer,
            counter_id="3",
            staff_id="teller-2",
            outcome=ref("cross-bank transfer submitted", "reception"),
            customer_ref=f"cust_ref_{i:05d}",
            waited_seconds=300,
            at=T0,
        )
        out.append(Stream(f"visit-{visit_id}", f"dr-{i % BRANCHES:03d}", at=T0).next(data))
    return out


def _lag(group: str) -> int:
    """``branchcare_consumer_lag_records`` of ``group``, all partitions (this process's gauge)."""
    return int(
        sum(
            sample.value
            for metric in CONSUMER_LAG.collect()
            for sample in metric.samples
            if sample.labels.get("group") == group
        )
    )


async def _drain(
    group: str,
    label: str,
    count: Callable[[], Awaitable[int]],
    expected: int,
    timeout: float = 300,
    events: int | None = None,
) -> tuple[float, int]:
    """Wait for ``expected`` rows (of ``events`` events, default as many); (events/s from the first
    row to the last, statements counted)."""
    per_row = (events or expected) / expected
    cpu = time.process_time()
    with db_statements.counting() as tally:
        deadline = time.monotonic() + timeout
        first: tuple[float, int] | None = None
        lag = 0
        while True:
            lag = max(lag, _lag(group))
            n = await count()
            now = time.monotonic()
            if n and first is None:
                first = (now, n)
            if n >= expected:
                break
            assert now < deadline, f"{label}: {n} of {expected} after {timeout} s"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the last transaction's COMMIT is logged
    cpu = time.process_time() - cpu
    assert first is not None
    n_events = events or expected
    elapsed = max(now - first[0], 1e-3)
    rate = (expected - first[1]) * per_row / elapsed
    consumer = [s for part in tally.parts() if any("projection_positions" in s for s in part) for s in part]
    print(
        f"\n{label}: {n_events} events drained at {rate:,.0f} events/s "
        f"({(expected - first[1]) * per_row:.0f} in {elapsed:.2f} s); {len(consumer)} consumer statements, "
        f"{len(consumer) / n_events:.3f} per event; "
        f"{cpu / n_events * 1e3:.2f} ms of this process's CPU per event; "
        f"branchcare_consumer_lag_records of {group}: up to {lag}, {_lag(group)} at the end"
    )
    return rate, len(consumer)


async def test_followup_drains_a_backlog_of_complaints(database_url: str, private_broker: Any) -> None:
    bootstrap = private_broker.bootstrap_servers
    await _publish(bootstrap, "complaint.events.v1", _complaints(EVENTS))
    async with running("followup", database_url, bootstrap) as svc:

        async def tasks() -> int:
            return int((await svc.fetch("SELECT count(*) AS n FROM tasks"))[0]["n"])

        _, statements = await _drain(
            "followup.task_rules", "follow-up task_rules (ComplaintReceived)", tasks, EVENTS
        )
        rows = await svc.fetch("SELECT count(*) AS n, count(DISTINCT complaint_id) AS c FROM tasks")
    assert rows[0]["n"] == rows[0]["c"] == EVENTS  # one progress update per complaint, none twice
    assert statements <= EVENTS * BUDGET_PER_EVENT


async def test_feedback_drains_a_backlog_of_served_visits(database_url: str, private_broker: Any) -> None:
    bootstrap = private_broker.bootstrap_servers
    await _publish(bootstrap, "reception.events.v1", _visits(EVENTS))
    quiet = FeedbackConfig(dispatch_period=3600)  # no sends while the drain is counted
    async with running("feedback", database_url, bootstrap, config=quiet) as svc:

        async def surveys() -> int:
            return int((await svc.fetch("SELECT count(*) AS n FROM survey_facts"))[0]["n"])

        _, statements = await _drain(
            "feedback.survey_rules", "feedback survey_rules (VisitServed)", surveys, EVENTS
        )
        rows = await svc.fetch("SELECT count(*) AS n, count(DISTINCT subject) AS s FROM survey_facts")
    assert rows[0]["n"] == rows[0]["s"] == EVENTS
    assert statements <= EVENTS * BUDGET_PER_EVENT


async def test_feedback_drains_a_backlog_of_complaints_received_and_closed(
    database_url: str, private_broker: Any
) -> None:
    bootstrap = private_broker.bootstrap_servers
    events = []
    for env in _complaints(EVENTS // 2):
        closed = ComplaintClosed(complaint_id=env.data["complaint_id"], at=T0, result=ref("ok"))
        stream = Stream(env.stream_id, env.branch_id, version=1, correlation_id=env.correlation_id, at=T0)
        events += [env, stream.next(closed)]
    await _publish(bootstrap, "complaint.events.v1", events)
    quiet = FeedbackConfig(dispatch_period=3600)
    async with running("feedback", database_url, bootstrap, config=quiet) as svc:

        async def surveys() -> int:
            return int((await svc.fetch("SELECT count(*) AS n FROM survey_facts"))[0]["n"])

        label = "feedback survey_rules (ComplaintReceived + ComplaintClosed)"
        _, statements = await _drain("feedback.survey_rules", label, surveys, EVENTS // 2, events=len(events))
    assert statements <= len(events) * BUDGET_PER_EVENT
