"""Writes of HQ's read-model tables for one batch of the contract: one statement per table.

Every write is an upsert that adds (counters), keeps the extreme (first/last times), keeps the
first known value (remediation columns) or replaces a row the contract sends whole (a complaint's
facts), so applying a batch is commutative with respect to other batches wherever it needs to be.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.hq.kpis import COUNTERS, FLOAT_COUNTERS
from services.hq.projections.changes import HqChanges
from shared.contracts.hqfeed import ComplaintFactsUpdated, RemediationActionUpdated

#: the columns of ``complaints`` and ``remediation_actions``: the contract's fields
FACT_COLUMNS: tuple[str, ...] = tuple(ComplaintFactsUpdated.model_fields)
REMEDIATION_COLUMNS: tuple[str, ...] = tuple(RemediationActionUpdated.model_fields)

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
)

_FACT_TYPES: dict[str, str] = {
    "complaint_id": "uuid",
    "incident_id": "uuid",
    "visit_id": "uuid",
    "received_day": "date",
    "cycle": "int",
    "reopened": "int",
    "escalations": "int",
    "extensions": "int",
    "limit_days": "int",
    "events": "int",
    "closed": "boolean",
    "escalated_first_cycle": "boolean",
    "fcr": "boolean",
    "root_cause": "boolean",
    "bank_at_fault": "boolean",
    "extensions_requested": "int",
    "extensions_approved": "int",
    "extensions_denied": "int",
    "reviews": "int",
    "handling_seconds": "float8",
    "held_seconds": "float8",
    "decision_days": "float8",
    "decision_limit": "int",
    "decided_within_limit": "boolean",
    "reviews_decided": "int",
    "reviews_upheld": "int",
    "reviews_changed": "int",
    "reviews_within_limit": "int",
}
for _name in FACT_COLUMNS:
    if _name.endswith("_at") or _name == "hold_since":
        _FACT_TYPES.setdefault(_name, "timestamptz")
    _FACT_TYPES.setdefault(_name, "text")


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

_FACTS_SQL = f"""
INSERT INTO complaints ({", ".join(FACT_COLUMNS)})
SELECT * FROM unnest({", ".join(f"${i + 1}::{_FACT_TYPES[c]}[]" for i, c in enumerate(FACT_COLUMNS))})
ON CONFLICT (complaint_id) DO UPDATE SET
{", ".join(f"{c} = EXCLUDED.{c}" for c in FACT_COLUMNS if c != "complaint_id")}
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


def _remediation_type(column: str) -> str:
    if column in ("task_id", "complaint_id", "action_id"):
        return "uuid"
    return "timestamptz" if column.endswith("_at") else "text"


_REMEDIATION_ARRAYS = ", ".join(
    f"${i + 1}::{_remediation_type(c)}[]" for i, c in enumerate(REMEDIATION_COLUMNS)
)
# each column has one source (the close, or one follow-up event): keep the first value known, so the
# row is the same whichever topic's event came first
_REMEDIATION_SQL = f"""
INSERT INTO remediation_actions AS r ({", ".join(REMEDIATION_COLUMNS)})
SELECT * FROM unnest({_REMEDIATION_ARRAYS})
ON CONFLICT (task_id) DO UPDATE SET
{", ".join(f"{c} = coalesce(r.{c}, EXCLUDED.{c})" for c in REMEDIATION_COLUMNS if c != "task_id")}
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

_SLOTS_SQL = """
INSERT INTO crisis_slots (category, slot, branch_id, complaints)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::int8[])
ON CONFLICT (category, slot, branch_id)
DO UPDATE SET complaints = crisis_slots.complaints + EXCLUDED.complaints
"""


async def write_changes(conn: asyncpg.Connection, c: HqChanges) -> None:
    """Write a folded batch: at most one statement per table."""
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
    if c.complaints:
        await _write_facts(conn, [c.complaints[k] for k in sorted(c.complaints)])
    if c.remediation:
        tasks = [c.remediation[k] for k in sorted(c.remediation)]
        await conn.execute(_REMEDIATION_SQL, *([t[name] for t in tasks] for name in REMEDIATION_COLUMNS))
    if c.breaches_deleted:
        gone = sorted(c.breaches_deleted)
        await conn.execute(
            """DELETE FROM open_breaches o USING unnest($1::text[], $2::text[]) AS d(subject_id, sla)
               WHERE o.subject_id = d.subject_id AND o.sla = d.sla""",
            [k[0] for k in gone],
            [k[1] for k in gone],
        )
    if c.breaches_added:
        added = sorted(c.breaches_added)
        info = [c.breaches_added[k] for k in added]
        await conn.execute(
            """INSERT INTO open_breaches (subject_id, sla, branch_id, subject_type, breached_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
               ON CONFLICT DO NOTHING""",
            [k[0] for k in added],
            [k[1] for k in added],
            [i[0] for i in info],
            [i[1] for i in info],
            [i[2] for i in info],
        )
    if c.received:
        names = sorted(c.received)
        await conn.execute(
            _RECEIVED_SQL, names, [c.received[b] for b in names], [c.received_latest[b] for b in names]
        )
    if c.slots:
        slots = sorted(c.slots)
        await conn.execute(
            _SLOTS_SQL,
            [k[0] for k in slots],
            [k[1] for k in slots],
            [k[2] for k in slots],
            [c.slots[k] for k in slots],
        )


async def _write_day(conn: asyncpg.Connection, day: Mapping[tuple[str, Any], Mapping[str, float]]) -> None:
    keys = sorted(day, key=lambda k: (k[1], k[0]))
    columns: list[list[Any]] = [[k[1] for k in keys], [k[0] for k in keys]]
    for name in COUNTERS:
        if name in FLOAT_COUNTERS:
            columns.append([float(day[k].get(name, 0.0)) for k in keys])
        else:
            columns.append([int(day[k].get(name, 0)) for k in keys])
    await conn.execute(_DAY_SQL, *columns)


async def _write_facts(conn: asyncpg.Connection, facts: list[dict[str, Any]]) -> None:
    columns = [[f[name] for f in facts] for name in FACT_COLUMNS]
    await conn.execute(_FACTS_SQL, *columns)
