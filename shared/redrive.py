"""A redriven dead letter is applied once by the consumer that dead-lettered it.

The projection runner marks a dead-lettered event consumed (its stream moves on), so the same
event coming back would be dropped as a duplicate. ``branchcare dlq redrive`` (shared/cli/dlq.py)
records the redrive in ``dlq_redrives`` of the consumer's schema and sends the record back with
``x-redriven-from`` (the dead letter's id) and ``x-redriven-for`` (the consumer group). That
consumer — only that one; every other group still drops it as a duplicate — applies it once, late,
inside the transaction of its read-model change: :func:`claim` turns ``applied_at`` from NULL to
now. A redelivery of the redriven record finds it claimed and is a duplicate again.

The ledger row commits only after the broker acknowledged the record, so the consumer can fetch
the record before the row is visible. The redrive holds :data:`LOCK_SQL` on the dead letter's id
while it sends and commits; :func:`claim` takes the same lock first, so it waits for that
transaction to end and then sees its row (it used to drop the record as a duplicate instead).
"""

from __future__ import annotations

from typing import Any

import asyncpg

REDRIVEN_FROM = "x-redriven-from"
REDRIVEN_FOR = "x-redriven-for"

#: a transaction lock on one dead letter's id (``$1``); first key 0x42437264 ("BCrd"), apart from other locks
LOCK_SQL = "SELECT pg_advisory_xact_lock(x'42437264'::int, hashtext($1))"


def redrive_headers(record: Any) -> tuple[str, str] | None:
    """(dead letter id, consumer group) if ``record`` is a redrive, else None (no database hit)."""
    headers = dict(record.headers or ())
    source, group = headers.get(REDRIVEN_FROM), headers.get(REDRIVEN_FOR)
    if not source or not group:
        return None
    return bytes(source).decode("utf-8", "replace"), bytes(group).decode("utf-8", "replace")


async def claim(conn: asyncpg.Connection, record: Any, group_id: str) -> bool:
    """Whether this consumer should apply the redriven ``record`` now (once, in ``conn``'s transaction)."""
    found = redrive_headers(record)
    if found is None or found[1] != group_id:
        return False
    topic, _, rest = found[0].rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        coords = (topic, int(partition), int(rest))
    except ValueError:
        return False
    await conn.execute(LOCK_SQL, found[0])  # the redrive's transaction has ended (module docstring)
    if not await conn.fetchval("SELECT to_regclass('dlq_redrives') IS NOT NULL"):
        return False
    return bool(
        await conn.fetchval(
            """UPDATE dlq_redrives SET applied_at = now()
               WHERE dlq_topic = $1 AND dlq_partition = $2 AND dlq_offset = $3 AND consumer = $4
                 AND applied_at IS NULL
               RETURNING true""",
            *coords,
            group_id,
        )
    )
