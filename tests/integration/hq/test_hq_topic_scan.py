"""A scan of HQ's topic after a realistic run through the real processes: only contract events,
and nothing in them but codes, times, ids and pseudonyms — none of the text references, masked
contacts or display names the branch events of the same run carry."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.simulator.envelopes import EnvelopeFactory, branch_traffic, interleave, producer
from shared.contracts.hqfeed import HQ_CONTRACT
from shared.envelope import Envelope
from shared.topology import events_topic
from tests.integration.hq.steps import connect, now, publish, wait_events
from tests.integration.hqfeed.test_hq_contract_equality import unsafe_strings
from tests.support.harness import Running

pytestmark = pytest.mark.integration


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            await consumer.topics()
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[bytes] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            out += [r.value or b"" for records in batch.values() for r in records]
        return out
    finally:
        await consumer.stop()


async def test_hqs_topic_holds_no_text_and_no_pii_after_a_realistic_run(hq: Running) -> None:
    rng = random.Random(16)
    run = uuid.uuid4().hex[:6]
    branches = [f"r0{i % 3}-scan{run}-{i}" for i in range(6)]
    items = list(
        interleave(
            [branch_traffic(EnvelopeFactory(), b, now() - timedelta(hours=1), rng=rng) for b in branches]
        )
    )
    await publish(hq, items)
    await wait_events(hq, branches, len(items))

    raw = b"".join(m.envelope.model_dump_json().encode() for m in items)
    assert b'"text_id"' in raw or b'"withheld"' in raw  # the branch events do carry text references

    records = await read_topic(hq.bootstrap, events_topic("hqfeed"))
    assert records
    types = {m.event_type for m in HQ_CONTRACT}
    for value in records:
        env = Envelope.model_validate_json(value)
        assert env.type in types
        assert unsafe_strings(env.data) == [], env.type
        assert b"text_id" not in value and b"withheld" not in value and b"display_name" not in value


async def test_a_contract_record_with_words_in_a_code_is_dead_lettered_and_the_rest_applied(
    hq: Running,
) -> None:
    """What the contract refuses never reaches HQ's tables: it goes to hqfeed.events.v1.dlq with the
    reason, and the records after it are applied."""
    run = uuid.uuid4().hex[:6]
    branch = f"r01-dlq{run}"
    at = now().isoformat()
    forged = Envelope(
        event_id=uuid.uuid4(),
        type="BranchKpisDelta",
        schema_version=1,
        stream_id=f"hqfeed:{branch}",
        stream_version=1,
        branch_id=branch,
        occurred_at=now(),
        recorded_at=now(),
        correlation_id=uuid.uuid4(),
        actor="system:hqfeed",
        data={
            "branch_id": branch,
            "first_event_at": at,
            "last_event_at": at,
            "days": [{"day": at[:10], "counters": {"Mr Wang called from 13800138000": 1}}],
        },
    )
    prod = producer(hq.bootstrap, linger_ms=1)
    await prod.start()
    try:
        await (
            await prod.send(events_topic("hqfeed"), forged.model_dump_json().encode(), key=branch.encode())
        )
    finally:
        await prod.stop()
    rng = random.Random(3)
    good = f"r01-ok{run}"
    items = list(branch_traffic(EnvelopeFactory(), good, now() - timedelta(minutes=30), rng=rng, visits=3))
    await publish(hq, items)
    await wait_events(hq, [good], len(items))

    dead = await read_topic(hq.bootstrap, events_topic("hqfeed") + ".dlq")
    assert any(forged.event_id.hex in v.replace(b"-", b"").decode(errors="replace") for v in dead)
    conn = await connect(hq)
    try:
        assert await conn.fetchval("SELECT count(*) FROM branch_day WHERE branch_id = $1", branch) == 0
    finally:
        await conn.close()
