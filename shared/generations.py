"""Read-model generations: how a projection fed by its own consumer is rebuilt while it runs.

A rebuild empties the read model and bumps its *generation* in one transaction
(:meth:`Generations.bump`, called by the service's rebuild with its tables). The batch consumer
(:class:`shared.batch_consumer.BatchConsumer` with ``generations=``) polls the generation and,
when it changed, starts over under the new generation's consumer group from the earliest offsets;
the projection's positions being empty, every event applies again exactly once. Until the
consumer has read up to the end offsets it saw when the generation started (:class:`CatchUp`),
the read model is "rebuilding".

The state is one row of ``read_model_state`` in the service's schema (generation, who asked and
when, started / caught up, records, target offsets): ``services/hq/migrations/0002_read_model.sql``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


def _tp_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


@dataclass(frozen=True)
class Generations:
    """The generations of one read model (its consumer group is ``base``, then ``base.g<n>``)."""

    #: the consumer group of the first generation (the runner's usual name, ``<service>.<projection>``)
    base: str
    #: the projection whose positions a rebuild forgets
    projection: str
    #: how often a running consumer looks for a new generation
    poll_seconds: float = 1.0

    def group_id(self, generation: int) -> str:
        return self.base if generation <= 1 else f"{self.base}.g{generation}"

    async def bump(
        self, conn: asyncpg.Connection, tables: tuple[str, ...], *, requested_by: str, now: datetime
    ) -> int:
        """Empty ``tables`` and start a new generation, in one transaction; returns it. The lock
        on ``projection_positions`` waits for the batch in flight (every batch locks its rows)."""
        async with conn.transaction():
            await conn.execute("LOCK TABLE projection_positions IN EXCLUSIVE MODE")
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
            await conn.execute("DELETE FROM projection_positions WHERE projection = $1", self.projection)
            generation: int = await conn.fetchval(
                """UPDATE read_model_state SET generation = generation + 1, requested_at = $1,
                          requested_by = $2, started_at = NULL, caught_up_at = NULL, records = 0,
                          target = NULL
                   WHERE id = 1 RETURNING generation""",
                now,
                requested_by,
            )
        return generation

    async def current(self, conn: asyncpg.Connection) -> int:
        return int(await conn.fetchval("SELECT generation FROM read_model_state WHERE id = 1"))

    async def status(self, conn: asyncpg.Connection) -> dict[str, Any]:
        row = await conn.fetchrow("SELECT * FROM read_model_state WHERE id = 1")
        assert row is not None
        started, caught_up = row["started_at"], row["caught_up_at"]
        seconds = (caught_up - started).total_seconds() if started and caught_up else None
        return {
            "generation": row["generation"],
            "consumer_group": self.group_id(row["generation"]),
            "rebuilding": caught_up is None,
            "requested_at": row["requested_at"],
            "requested_by": row["requested_by"],
            "started_at": started,
            "caught_up_at": caught_up,
            "records": row["records"],
            "seconds": seconds,
            "records_per_second": row["records"] / seconds if seconds else None,
            "target": json.loads(row["target"]) if row["target"] else None,
        }

    async def set_target(
        self, conn: asyncpg.Connection, generation: int, target: dict[str, int]
    ) -> dict[str, int]:
        """Record the end offsets this generation must reach (once: a restart keeps the first)."""
        row = await conn.fetchrow(
            """UPDATE read_model_state SET target = coalesce(target, $2::jsonb)
               WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL RETURNING target""",
            generation,
            json.dumps(target),
        )
        return json.loads(row["target"]) if row is not None else target

    async def mark_started(self, conn: asyncpg.Connection, generation: int, now: datetime) -> None:
        """The first batch of this generation was applied just now (the rate excludes the join)."""
        await conn.execute(
            """UPDATE read_model_state SET started_at = coalesce(started_at, $2)
               WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL""",
            generation,
            now,
        )

    async def mark_caught_up(
        self, conn: asyncpg.Connection, generation: int, records: int, now: datetime
    ) -> None:
        await conn.execute(
            """UPDATE read_model_state SET caught_up_at = $2, records = records + $3,
                      started_at = coalesce(started_at, $2)
               WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL""",
            generation,
            now,
            records,
        )

    async def is_caught_up(self, conn: asyncpg.Connection, generation: int) -> bool:
        return bool(
            await conn.fetchval(
                "SELECT caught_up_at IS NOT NULL FROM read_model_state WHERE id = 1 AND generation = $1",
                generation,
            )
        )


@dataclass
class CatchUp:
    """A generation's way to its target: the end offsets seen when it started."""

    target: dict[str, int]
    seen: dict[str, int] = field(default_factory=dict)
    records: int = 0

    @classmethod
    async def of(
        cls,
        generations: Generations,
        pool: asyncpg.Pool,
        consumer: AIOKafkaConsumer,
        topics: Iterable[str],
        generation: int,
    ) -> CatchUp | None:
        """The generation's target (None: it has caught up already)."""
        async with pool.acquire() as conn:
            if await generations.is_caught_up(conn, generation):
                return None
        partitions = await _partitions(consumer, topics)
        ends = await consumer.end_offsets(partitions) if partitions else {}
        target = {_tp_key(tp): int(offset) for tp, offset in ends.items()}
        async with pool.acquire() as conn:
            return cls(await generations.set_target(conn, generation, target))

    def saw(self, records: list[ConsumerRecord]) -> None:  # type: ignore[type-arg]
        self.records += len(records)
        for r in records:
            key = f"{r.topic}:{r.partition}"
            if r.offset + 1 > self.seen.get(key, 0):
                self.seen[key] = r.offset + 1

    async def reached(self, consumer: AIOKafkaConsumer, *, idle: bool) -> bool:
        """Every partition of the target read up to its end offset (asked of the consumer when
        idle, for partitions whose last offsets hold no record)."""
        missing = [k for k, end in self.target.items() if end > 0 and self.seen.get(k, 0) < end]
        if not missing:
            return True
        if not idle:
            return False
        assigned = {_tp_key(tp): tp for tp in consumer.assignment()}
        for key in missing:
            tp = assigned.get(key)
            if tp is None:
                return False
            try:
                if await consumer.position(tp) < self.target[key]:
                    return False
            except Exception:
                return False
        return True


async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    out: list[TopicPartition] = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if parts:
                break
            await consumer.topics()  # refresh metadata
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                await asyncio.sleep(0.1)
        out += [TopicPartition(topic, p) for p in sorted(parts or ())]
    return out
