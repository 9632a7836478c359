"""Gaps in a projection's input: never commit past an event that was not applied.

A gap is a stream version arriving before its predecessor (v3 when v1 was the last applied): the
predecessor is missing from the topic, e.g. the broker lost it and the relay republishes it from
the store. The runner then *holds* that partition at the gap's offset:

- the committed Kafka offset of the partition stays at the gap (a restart or rebalance reads it
  again), whatever the consumer reads afterwards;
- the consumer still reads on: events of other streams apply (they are idempotent per stream
  version), and so does the missing event when its republished copy comes by, later in the same
  partition; a dead letter behind the gap waits (it is sent on the pass that commits past it);
- after a wait that doubles from ``FIRST_REWIND_SECONDS`` to ``MAX_REWIND_SECONDS``, the
  partition is rewound to the gap and read again; a pass with no gap lets the offset move on.

``branchcare_projection_gap_seconds`` shows, at every scrape, how long the oldest gap of the
projection has lasted; ``BranchCareProjectionGap`` fires when it stays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from shared.metrics import PROJECTION_GAP

log = logging.getLogger(__name__)

FIRST_REWIND_SECONDS = 0.5
MAX_REWIND_SECONDS = 10.0
_TICK_SECONDS = 0.2


def _tp(record: ConsumerRecord) -> TopicPartition:  # type: ignore[type-arg]
    return TopicPartition(record.topic, record.partition)


class GapTracker:
    """Per partition: the offset not to commit past, since when, and when to read it again."""

    def __init__(self, service: str, projection: str) -> None:
        self.name = f"{service}.{projection}"
        self._holds: dict[TopicPartition, int] = {}
        self._since: dict[TopicPartition, float] = {}
        self._expect: dict[TopicPartition, int] = {}  # rewound here; records after it are stale
        self._due: dict[TopicPartition, float] = {}
        self._delay: dict[TopicPartition, float] = {}
        self._consumer: Any = None
        self._timer: asyncio.TimerHandle | None = None
        PROJECTION_GAP.labels(service, projection).set_function(self.gap_seconds)

    def bind(self, consumer: Any) -> None:
        """The aiokafka consumer to rewind; a new consumer starts from committed offsets."""
        if consumer is not self._consumer:
            self._consumer = consumer
            self._holds.clear()
            self._expect.clear()
            self._due.clear()

    def gap_seconds(self) -> float:
        return time.monotonic() - min(self._since.values()) if self._since else 0.0

    @property
    def holding(self) -> dict[TopicPartition, int]:
        return dict(self._holds)

    def begin(self, records: Sequence[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        """Before a batch: records of a rewound partition fetched before the rewind stay held."""
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = _tp(record)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        for tp, offset in first.items():
            expected = self._expect.get(tp)
            if expected is None:
                continue
            if offset <= expected:  # the pass from the gap: whatever stale records held is moot
                del self._expect[tp]
                self._holds.pop(tp, None)
                self._due.pop(tp, None)
            else:
                self._holds[tp] = min(self._holds.get(tp, expected), expected)

    def beyond_hold(self, record: ConsumerRecord) -> bool:  # type: ignore[type-arg]
        hold = self._holds.get(_tp(record))
        return hold is not None and record.offset >= hold

    def hold(self, record: ConsumerRecord, detail: str) -> None:  # type: ignore[type-arg]
        """``record`` is a gap: do not commit its partition past it."""
        tp = _tp(record)
        if tp in self._holds and self._holds[tp] <= record.offset:
            return
        self._holds[tp] = record.offset
        now = time.monotonic()
        if tp not in self._since:
            self._since[tp] = now
            log.warning(
                "projection %s: %s; holding %s[%d] at offset %d", self.name, detail, *tp, record.offset
            )
        delay = self._delay.setdefault(tp, FIRST_REWIND_SECONDS)
        self._due.setdefault(tp, now + delay)
        self._schedule()

    def commit_offsets(self, records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:  # type: ignore[type-arg]
        """The offsets to commit after ``records`` were processed: never past a hold."""
        ends: dict[TopicPartition, int] = {}
        for record in records:
            tp = _tp(record)
            ends[tp] = max(ends.get(tp, 0), record.offset + 1)
        for tp in ends:
            if tp in self._holds:
                ends[tp] = self._holds[tp]
            elif tp in self._expect:  # rewound while this batch was applied: not re-read yet
                ends[tp] = min(ends[tp], self._expect[tp])
            elif tp not in self._expect and tp in self._since:
                waited = time.monotonic() - self._since.pop(tp)
                self._delay.pop(tp, None)
                log.info("projection %s: gap in %s[%d] closed after %.1f s", self.name, *tp, waited)
        return ends

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(_TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        """Rewind the partitions whose wait is over (the consumer's next fetch starts there)."""
        self._timer = None
        now = time.monotonic()
        for tp, due in list(self._due.items()):
            if due > now or tp not in self._holds:
                continue
            offset = self._holds.pop(tp)
            del self._due[tp]
            try:
                self._consumer.seek(tp, offset)
            except Exception as exc:  # revoked by a rebalance: its next owner starts at the commit
                log.info("projection %s: %s[%d] not rewound (%r)", self.name, *tp, exc)
                self._since.pop(tp, None)
                continue
            self._expect[tp] = offset
            self._delay[tp] = min(self._delay.get(tp, FIRST_REWIND_SECONDS) * 2, MAX_REWIND_SECONDS)
        if self._holds:
            for tp in self._holds:
                self._due.setdefault(tp, now + self._delay.get(tp, FIRST_REWIND_SECONDS))
            self._schedule()
