"""Rebuild HQ's read model from the topics, from the beginning.

A rebuild is one transaction: it waits for the batch in flight (it locks ``projection_positions``
the way every batch's first statement does, so the two never interleave), truncates the read-model
tables, forgets the projection's positions and bumps the read model's *generation*. Every HQ
consumer notices the new generation within a second and starts over under a new consumer group
(``hq.branch_kpis.g<generation>``) from the earliest offsets; the new group's first batches find
empty positions, so they apply everything again exactly once. Until the consumer has reached the
end offsets it saw when it started, the read model is "rebuilding" (``GET /hq/status``).

What is not truncated: ``alert_events`` (which alerts were already published: a rebuild finds them
again but publishes nothing) and HQ's own event store.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from services.hq.projections import PROJECTION
from services.hq.projections.tables import READ_MODEL_TABLES


def group_id(generation: int) -> str:
    """The consumer group of a generation (the first keeps the runner's usual name)."""
    base = f"hq.{PROJECTION}"
    return base if generation <= 1 else f"{base}.g{generation}"


async def request_rebuild(conn: asyncpg.Connection, *, requested_by: str, now: datetime) -> int:
    """Empty the read model and start a new generation; returns it."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE projection_positions IN EXCLUSIVE MODE")
        await conn.execute(f"TRUNCATE {', '.join(READ_MODEL_TABLES)}")
        await conn.execute("DELETE FROM projection_positions WHERE projection = $1", PROJECTION)
        generation: int = await conn.fetchval(
            """UPDATE read_model_state SET generation = generation + 1, requested_at = $1, requested_by = $2,
                      started_at = NULL, caught_up_at = NULL, records = 0, target = NULL
               WHERE id = 1 RETURNING generation""",
            now,
            requested_by,
        )
    return generation


async def current_generation(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT generation FROM read_model_state WHERE id = 1"))


async def status(conn: asyncpg.Connection) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM read_model_state WHERE id = 1")
    assert row is not None
    started, caught_up = row["started_at"], row["caught_up_at"]
    seconds = (caught_up - started).total_seconds() if started and caught_up else None
    return {
        "generation": row["generation"],
        "consumer_group": group_id(row["generation"]),
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


async def set_target(conn: asyncpg.Connection, generation: int, target: dict[str, int]) -> dict[str, int]:
    """Record the end offsets this generation must reach (once: a restart keeps the first)."""
    row = await conn.fetchrow(
        """UPDATE read_model_state SET target = coalesce(target, $2::jsonb)
           WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL RETURNING target""",
        generation,
        json.dumps(target),
    )
    return json.loads(row["target"]) if row is not None else target


async def mark_started(conn: asyncpg.Connection, generation: int, now: datetime) -> None:
    """The first batch of this generation was applied just now (the rate excludes the group join)."""
    await conn.execute(
        """UPDATE read_model_state SET started_at = coalesce(started_at, $2)
           WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL""",
        generation,
        now,
    )


async def mark_caught_up(conn: asyncpg.Connection, generation: int, records: int, now: datetime) -> None:
    await conn.execute(
        """UPDATE read_model_state SET caught_up_at = $2, records = records + $3,
                  started_at = coalesce(started_at, $2)
           WHERE id = 1 AND generation = $1 AND caught_up_at IS NULL""",
        generation,
        now,
        records,
    )


async def is_caught_up(conn: asyncpg.Connection, generation: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT caught_up_at IS NOT NULL FROM read_model_state WHERE id = 1 AND generation = $1",
            generation,
        )
    )
