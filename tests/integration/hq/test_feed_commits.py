"""The aggregator commits its offsets after each batch's transaction: once it went quiet, its
group's committed offsets reach the end of what it applied, so a restart reads nothing again that it
has already folded (and what it would read again is a no-op)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.hqfeed.projection import PROJECTION
from services.simulator.envelopes import EnvelopeFactory
from tests.integration.hq.steps import now, publish, wait_events
from tests.support.harness import Running

pytestmark = pytest.mark.integration


async def committed(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """The sum of ``group``'s committed offsets over ``topics`` (asked without joining the group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for topic in topics:
            for p in sorted(consumer.partitions_for_topic(topic) or ()):
                total += (await consumer.committed(TopicPartition(topic, p))) or 0
        return total
    finally:
        await consumer.stop()


async def test_the_feed_commits_what_it_applied_once_it_goes_quiet(hq: Running) -> None:
    f = EnvelopeFactory()
    t0 = now() - timedelta(hours=1)
    branch = f"sh-{uuid.uuid4().hex[:6]}-commit"
    items = [m for i in range(5) for m in f.complaint(branch, t0, customer_ref=f"cust_cm{i:06d}")]
    topics = sorted({m.topic for m in items})
    group = f"hqfeed.{PROJECTION}"
    before = await committed(hq.bootstrap, group, topics)
    await publish(hq, items)
    await wait_events(hq, [branch], len(items))
    deadline = time.monotonic() + 10
    while (done := await committed(hq.bootstrap, group, topics) - before) < len(items):
        assert time.monotonic() < deadline, f"{len(items) - done} applied records never committed"
