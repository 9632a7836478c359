"""HQ's read-model tables, and the write of one batch: one statement per table, arrays in.

Every write is an upsert that adds (counters), keeps the extreme (first/last times), keeps the
first known value (remediation columns) or replaces a row the contract sends whole (a complaint's
facts), so applying a batch is commutative with respect to other batches wherever it needs to be.
The tables belong to three read models: :mod:`.branch_days`, :mod:`.cases` and the pattern inputs
of :mod:`.alerts` (``crisis_slots`` here; windows and alerts there).
"""

from __future__ import annotations

import asyncpg

from services.hq.projections.branch_days import write_branch_days, write_open_breaches
from services.hq.projections.cases import write_cases
from services.hq.projections.changes import HqChanges

#: the read-model tables a rebuild truncates (alert_events and read_model_state are not among them)
READ_MODEL_TABLES: tuple[str, ...] = (
    "branch_complaints",
    "branches",
    "branch_day",
    "branch_day_sla",
    "branch_day_category",
    "complaints",
    "open_breaches",
    "crisis_slots",
    "crisis_windows",
    "spike_alerts",
    "repeat_alerts",
    "remediation_actions",
    "customer_aliases",
    "customer_alias_facts",
)

_SLOTS_SQL = """
INSERT INTO crisis_slots (category, slot, branch_id, complaints)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int8[])
ON CONFLICT (category, slot, branch_id)
DO UPDATE SET complaints = crisis_slots.complaints + EXCLUDED.complaints
"""


async def write_changes(conn: asyncpg.Connection, c: HqChanges) -> None:
    """Write a merged batch: at most one statement per table."""
    await write_branch_days(conn, c)
    await write_cases(conn, c)
    await write_open_breaches(conn, c)
    if c.slots:
        slots = sorted(c.slots)
        await conn.execute(
            _SLOTS_SQL,
            [k[0] for k in slots],
            [k[1] for k in slots],
            [k[2] for k in slots],
            [c.slots[k] for k in slots],
        )
