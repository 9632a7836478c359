"""A spike of one category across branches raises CrisisSuspected on hq.events.v1 (once), and a
smaller one does not."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.simulator.envelopes import EnvelopeFactory, Made
from shared.contracts.complaint import Category
from shared.envelope import Envelope
from tests.integration.hq.steps import now, publish, read
from tests.support.harness import Running
from tests.support.kafka import read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


async def test_system_failure_in_five_branches_within_minutes_raises_crisis_suspected(hq: Running) -> None:
    f = EnvelopeFactory()
    run = uuid.uuid4().hex[:6]
    t0 = now() - timedelta(minutes=30)
    outage = [f"gz-{run}-{i}" for i in range(5)]
    items: list[Made] = []
    for i, branch in enumerate(outage):  # one system_failure complaint per branch, 3 minutes apart
        items += f.complaint(
            branch,
            t0 + timedelta(minutes=3 * i),
            customer_ref=f"cust_out{i:05d}",
            category=Category.system_failure,
            steps="classified",
        )
    # four branches complaining about fees within the hour: below the threshold of five
    for i in range(4):
        items += f.complaint(
            f"gz-{run}-fees-{i}",
            t0,
            customer_ref=f"cust_fee{i:05d}",
            category=Category.fees_and_information_transparency,
            steps="classified",
        )
    await publish(hq, items)

    records = await read_topic(
        hq.bootstrap,
        "hq.events.v1",
        until=lambda rs: any(b'"CrisisSuspected"' in (r.value or b"") for r in rs),
        timeout=20,
    )
    crises = [
        Envelope.model_validate_json(r.value) for r in records if b'"CrisisSuspected"' in (r.value or b"")
    ]
    assert len(crises) == 1
    data = crises[0].data
    assert data["category"] == "system_failure" and data["branches"] == 5 and data["complaints"] == 5
    assert data["branch_ids"] == sorted(outage) and data["threshold_branches"] == 5
    assert crises[0].branch_id == "hq" and crises[0].stream_version == 1

    alerts = (await read(hq, "/hq/alerts", kind="spike"))["alerts"]
    assert [(a["category"], a["published"], a["branches"]) for a in alerts] == [("system_failure", True, 5)]
    assert str(alerts[0]["alert_id"]) == data["alert_id"]

    # more complaints of the same spike change the alert, not the number of events published
    await publish(
        hq,
        f.complaint(
            f"gz-{run}-5",
            t0 + timedelta(minutes=20),
            customer_ref="cust_out00009",
            category=Category.system_failure,
            steps="classified",
        ),
    )

    async def grown() -> bool:
        spikes = (await read(hq, "/hq/alerts", kind="spike"))["alerts"]
        return bool(spikes and spikes[0]["branches"] == 6)

    await wait_until(grown, timeout=15, message="the alert never counted the sixth branch")
    again = await read_topic(hq.bootstrap, "hq.events.v1", until=lambda rs: len(rs) >= 1, timeout=5)
    assert sum(b'"CrisisSuspected"' in (r.value or b"") for r in again) == 1
    metrics = (await hq.http.get(f"{hq.url}/metrics")).text
    assert 'branchcare_hq_alerts_raised_total{category="system_failure",kind="spike"} 1.0' in metrics
