"""Rebuild HQ's read model from the topics, from the beginning.

A rebuild is one transaction: it waits for the batch in flight (it locks ``projection_positions``
the way every batch's first statement does, so the two never interleave), truncates the read-model
tables, forgets the projection's positions and bumps the read model's *generation*. HQ's consumer
runs the shared batch consumer in its generation-switching mode (:mod:`shared.batch_consumer`,
:mod:`shared.generations`): it notices the new generation within a second and starts over under a
new consumer group (``hq.branch_kpis.g<generation>``) from the earliest offsets; the new group's
first batches find empty positions, so they apply everything again exactly once. Until the consumer
has reached the end offsets it saw when it started, the read model is "rebuilding"
(``GET /hq/status``).

What is not truncated: ``alert_events`` (which alerts were already published: a rebuild finds them
again but publishes nothing) and HQ's own event store.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from typing import Any

import asyncpg

from services.hq.projections import PROJECTION
from services.hq.projections.tables import READ_MODEL_TABLES
from shared.generations import Generations

#: HQ's read model generations (state: ``read_model_state``; groups ``hq.branch_kpis[.g<n>]``)
GENERATIONS = Generations(base=f"hq.{PROJECTION}", projection=PROJECTION)


def generations(poll_seconds: float) -> Generations:
    """HQ's generations, looked for every ``poll_seconds`` by a running consumer."""
    return Generations(base=GENERATIONS.base, projection=PROJECTION, poll_seconds=poll_seconds)


def group_id(generation: int) -> str:
    """The consumer group of a generation (the first keeps the runner's usual name)."""
    return GENERATIONS.group_id(generation)


async def request_rebuild(conn: asyncpg.Connection, *, requested_by: str, now: datetime) -> int:
    """Empty the read model and start a new generation; returns it."""
    return await GENERATIONS.bump(conn, READ_MODEL_TABLES, requested_by=requested_by, now=now)


async def current_generation(conn: asyncpg.Connection) -> int:
    return await GENERATIONS.current(conn)


async def status(conn: asyncpg.Connection) -> dict[str, Any]:
    return await GENERATIONS.status(conn)


async def follow(
    conn: asyncpg.Connection, generation: int, timeout: float, *, prefix: str = ""
) -> dict[str, Any] | None:
    """Follow ``generation``'s rebuild for the command lines' ``--wait``, polling twice a second:
    its last :func:`status` once it has caught up; None, said on stderr (each line starting with
    ``prefix``), when another rebuild replaced it or ``timeout`` seconds passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await status(conn)
        if state["generation"] != generation:
            print(f"{prefix}another rebuild was requested meanwhile", file=sys.stderr)
            return None
        if not state["rebuilding"]:
            return state
        await asyncio.sleep(0.5)
    print(f"{prefix}still rebuilding after {timeout:.0f} s (is HQ running?)", file=sys.stderr)
    return None
