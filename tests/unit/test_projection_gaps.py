"""The gap tracker's bookkeeping, without a broker: what may be committed, when it rewinds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared import projection_gaps
from shared.kafka_topics import topic_spec
from shared.projection_gaps import GapTracker
from shared.relay import _prefix

TP = TopicPartition("t.events.v1", 0)
OTHER = TopicPartition("t.events.v1", 1)


def rec(offset: int, tp: TopicPartition = TP) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


class Consumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[TopicPartition, int]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> tuple[GapTracker, Consumer]:
    monkeypatch.setattr(projection_gaps, "FIRST_REWIND_SECONDS", 0.05)
    monkeypatch.setattr(projection_gaps, "_TICK_SECONDS", 0.02)
    gaps = GapTracker("unit", f"p{id(monkeypatch)}")
    consumer = Consumer()
    gaps.bind(consumer)
    return gaps, consumer


async def test_no_gap_commits_after_the_last_record(tracker: Any) -> None:
    gaps, _ = tracker
    batch = [rec(0), rec(1), rec(5, OTHER)]
    gaps.begin(batch)
    assert gaps.commit_offsets(batch) == {TP: 2, OTHER: 6}
    assert gaps.gap_seconds() == 0


async def test_a_gap_is_never_committed_past_and_is_read_again(tracker: Any) -> None:
    gaps, consumer = tracker
    batch = [rec(10), rec(11), rec(12), rec(3, OTHER)]
    gaps.begin(batch)
    gaps.hold(batch[1], "s1 v3 arrived before v2")
    assert gaps.beyond_hold(batch[2]) and not gaps.beyond_hold(batch[0])
    assert gaps.commit_offsets(batch) == {TP: 11, OTHER: 4}, "the other partition moves on"
    later = [rec(13), rec(14)]  # read on while held: still not committed past the gap
    gaps.begin(later)
    assert gaps.commit_offsets(later) == {TP: 11}
    await asyncio.sleep(0.15)
    assert consumer.seeks == [(TP, 11)], "rewound to the gap after the wait"
    assert gaps.gap_seconds() > 0.1
    stale = [rec(15)]  # fetched before the rewind: still held
    gaps.begin(stale)
    assert gaps.commit_offsets(stale) == {TP: 11}
    again = [rec(11), rec(12), rec(13), rec(14), rec(15)]  # the re-read finds no gap now
    gaps.begin(again)
    assert gaps.commit_offsets(again) == {TP: 16}
    assert gaps.gap_seconds() == 0


async def test_a_lasting_gap_backs_off(tracker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projection_gaps, "MAX_REWIND_SECONDS", 0.2)
    gaps, consumer = tracker
    for _ in range(3):
        batch = [rec(7), rec(8)]
        gaps.begin(batch)
        gaps.hold(batch[0], "gap")
        gaps.commit_offsets(batch)
        await asyncio.sleep(0.5)
    assert consumer.seeks == [(TP, 7)] * 3
    assert gaps._delay[TP] == 0.2  # doubled from 0.05 up to the ceiling


def test_acknowledged_prefix() -> None:
    ok = object()
    assert _prefix([ok, ok, RuntimeError(), ok]) == 2
    assert _prefix([ok, ok]) == 2
    assert _prefix([TimeoutError()]) == 0


def test_topic_specs_follow_deploy_kafka() -> None:
    assert topic_spec("reception.events.v1").partitions == 48
    assert topic_spec("hq.events.v1").partitions == 12
    assert topic_spec("hqfeed.events.v1").partitions == 24
    assert topic_spec("complaint.events.v1.dlq").partitions == 3
    assert topic_spec("complaint.events.v1", 6).partitions == 6
    assert topic_spec("complaint.events.v1").config["retention.ms"] == "-1"
