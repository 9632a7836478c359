"""A consumer's Kafka offsets, committed at most once a second while records keep coming.

The projection runner applies a batch and its per-stream positions in one PostgreSQL transaction
(:mod:`shared.projection`): the committed Kafka offset only says where a restarted or rebalanced
consumer starts reading, and whatever it reads again is dropped as a duplicate. Committing after
every batch cost an OffsetCommit request per batch, a sixth of the embedded broker's requests at
100 creates/s (``python -m bench.stack_cpu``), so offsets are committed:

- at once for the first batch after a quiet spell, and then at most every ``EVERY_SECONDS``;
- at once when a poll comes back empty or the consumer stops (:meth:`OffsetCommits.quiet`), so a
  consumer that went quiet has committed everything it applied;
- never past a gap: the offsets are the gap tracker's (:mod:`shared.projection_gaps`), and the
  last ones computed are the ones committed, as committing after every batch would have left them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

#: while records keep coming, offsets are committed at most this often
EVERY_SECONDS = 1.0


class OffsetCommits:
    """The offsets applied but not yet committed, of one consumer at a time."""

    def __init__(self, group_id: str, every_seconds: float = EVERY_SECONDS) -> None:
        self.group_id = group_id
        self.every_seconds = every_seconds
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: Any = None
        self._committed_at = 0.0

    async def applied(self, consumer: Any, offsets: dict[TopicPartition, int], *, now: bool = False) -> None:
        """``offsets`` were applied: commit them now if ``now`` or the last commit is old enough."""
        if consumer is not self._consumer:
            self._pending, self._consumer = {}, consumer  # a new consumer starts from the commits
        self._pending.update(offsets)
        if now or time.monotonic() - self._committed_at >= self.every_seconds:
            await self.quiet(consumer)

    async def quiet(self, consumer: Any) -> None:
        """Commit what is held back; partitions a rebalance took away meanwhile are left to their
        new owner (it starts at the last commit and drops what it reads again)."""
        self._committed_at = time.monotonic()
        if consumer is not self._consumer or not self._pending:
            return
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._pending.items() if tp in assigned}
        self._pending = {}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance: the batch may be delivered again, harmlessly
            log.warning("projection %s: commit failed (%r); the batch may come again", self.group_id, exc)
