"""Read model: every branch's KPIs by local day (``branch_day``, ``branch_day_sla``,
``branch_day_category``), the branches HQ knows (``branches``, ``branch_complaints``) and the
breaches still open (``open_breaches``: "breaching now", "overdue now"). Written from a batch's
:class:`~services.hq.projections.changes.HqChanges`, one statement per table; read by
:mod:`services.hq.queries`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.hq.kpis import COUNTERS, FLOAT_COUNTERS
from services.hq.projections.changes import HqChanges
from shared.open_breaches import save_open_breaches


def _counter_type(name: str) -> str:
    return "float8" if name in FLOAT_COUNTERS else "int8"


_DAY_ARRAYS = ", ".join(f"${i + 3}::{_counter_type(c)}[]" for i, c in enumerate(COUNTERS))
_DAY_SQL = f"""
INSERT INTO branch_day (day, branch_id, {", ".join(COUNTERS)})
SELECT * FROM unnest($1::date[], $2::text[], {_DAY_ARRAYS})
ON CONFLICT (day, branch_id) DO UPDATE SET
{", ".join(f"{c} = branch_day.{c} + EXCLUDED.{c}" for c in COUNTERS)}
"""

_SLA_SQL = """
INSERT INTO branch_day_sla (day, branch_id, sla, met, breached, late, at_risk)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
ON CONFLICT (day, branch_id, sla) DO UPDATE SET
    met = branch_day_sla.met + EXCLUDED.met, breached = branch_day_sla.breached + EXCLUDED.breached,
    late = branch_day_sla.late + EXCLUDED.late, at_risk = branch_day_sla.at_risk + EXCLUDED.at_risk
"""

_CATEGORY_SQL = """
INSERT INTO branch_day_category (day, branch_id, category, nature, channel, received, closed)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[])
ON CONFLICT (day, branch_id, category, nature, channel) DO UPDATE SET
    received = branch_day_category.received + EXCLUDED.received,
    closed = branch_day_category.closed + EXCLUDED.closed
"""

# a reclassification moves a received complaint out of its old category: a row left at 0 / 0 is
# dropped, so the table does not depend on whether receipt and move came in one batch or two
_CATEGORY_EMPTIED_SQL = """
DELETE FROM branch_day_category t
USING unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[])
      AS k(day, branch_id, category, nature, channel)
WHERE t.day = k.day AND t.branch_id = k.branch_id AND t.category = k.category AND t.nature = k.nature
  AND t.channel = k.channel AND t.received = 0 AND t.closed = 0
"""


_BRANCHES_SQL = """
INSERT INTO branches (branch_id, first_event_at, last_event_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
ON CONFLICT (branch_id) DO UPDATE SET
    first_event_at = LEAST(branches.first_event_at, EXCLUDED.first_event_at),
    last_event_at = GREATEST(branches.last_event_at, EXCLUDED.last_event_at)
"""

_RECEIVED_SQL = """
INSERT INTO branch_complaints (branch_id, complaints_received, last_event_at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[])
ON CONFLICT (branch_id) DO UPDATE
SET complaints_received = branch_complaints.complaints_received + EXCLUDED.complaints_received,
    last_event_at = greatest(branch_complaints.last_event_at, EXCLUDED.last_event_at)
"""


async def write_branch_days(conn: asyncpg.Connection, c: HqChanges) -> None:
    if c.branches:
        names = sorted(c.branches)
        await conn.execute(
            _BRANCHES_SQL, names, [c.branches[b][0] for b in names], [c.branches[b][1] for b in names]
        )
    if c.day:
        await _write_day(conn, c.day)
    if c.day_sla:
        keys = sorted((k for k, v in c.day_sla.items() if any(v.values())), key=lambda k: (k[1], k[0], k[2]))
        await conn.execute(
            _SLA_SQL,
            [k[1] for k in keys],
            [k[0] for k in keys],
            [k[2] for k in keys],
            *([int(c.day_sla[k][col]) for k in keys] for col in ("met", "breached", "late", "at_risk")),
        )
    if c.day_category:
        cat_keys = sorted(
            (k for k, v in c.day_category.items() if any(v.values())), key=lambda k: (k[1], k[0], *k[2:])
        )
        if cat_keys:
            await conn.execute(
                _CATEGORY_SQL,
                [k[1] for k in cat_keys],
                [k[0] for k in cat_keys],
                [k[2] for k in cat_keys],
                [k[3] for k in cat_keys],
                [k[4] for k in cat_keys],
                [int(c.day_category[k]["received"]) for k in cat_keys],
                [int(c.day_category[k]["closed"]) for k in cat_keys],
            )
            if any(c.day_category[k]["received"] < 0 for k in cat_keys):
                await conn.execute(
                    _CATEGORY_EMPTIED_SQL, *([k[i] for k in cat_keys] for i in (1, 0, 2, 3, 4))
                )
    if c.received:
        names = sorted(c.received)
        await conn.execute(
            _RECEIVED_SQL, names, [c.received[b] for b in names], [c.received_latest[b] for b in names]
        )


async def write_open_breaches(conn: asyncpg.Connection, c: HqChanges) -> None:
    """Deletions first: a breach closed and opened again within the batch is the new one."""
    await save_open_breaches(conn, c.breaches_deleted, c.breaches_added)


async def _write_day(conn: asyncpg.Connection, day: Mapping[tuple[str, Any], Mapping[str, float]]) -> None:
    keys = sorted(day, key=lambda k: (k[1], k[0]))
    columns: list[list[Any]] = [[k[1] for k in keys], [k[0] for k in keys]]
    for name in COUNTERS:
        if name in FLOAT_COUNTERS:
            columns.append([float(day[k].get(name, 0.0)) for k in keys])
        else:
            columns.append([int(day[k].get(name, 0)) for k in keys])
    await conn.execute(_DAY_SQL, *columns)
