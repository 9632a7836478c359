"""Read model: complaint facts (``complaints``) and remediation actions (``remediation_actions``),
as the contract's ``ComplaintFactsUpdated`` / ``RemediationActionUpdated`` carry them: the newest
snapshot of a case replaces the row, a remediation column keeps its first known value. Read by the
regulatory report (:mod:`services.hq.report_queries`) and repeat-complainant detection."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.hq.projections.changes import HqChanges
from shared.contracts.hqfeed import ComplaintFactsUpdated, RemediationActionUpdated

#: the columns of ``complaints`` and ``remediation_actions``: the contract's fields
FACT_COLUMNS: tuple[str, ...] = tuple(ComplaintFactsUpdated.model_fields)
REMEDIATION_COLUMNS: tuple[str, ...] = tuple(RemediationActionUpdated.model_fields)

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


_FACTS_SQL = f"""
INSERT INTO complaints ({", ".join(FACT_COLUMNS)})
SELECT * FROM unnest({", ".join(f"${i + 1}::{_FACT_TYPES[c]}[]" for i, c in enumerate(FACT_COLUMNS))})
ON CONFLICT (complaint_id) DO UPDATE SET
{", ".join(f"{c} = EXCLUDED.{c}" for c in FACT_COLUMNS if c != "complaint_id")}
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


async def write_cases(conn: asyncpg.Connection, c: HqChanges) -> None:
    if c.complaints:
        await _write_facts(conn, [c.complaints[k] for k in sorted(c.complaints)])
    if c.remediation:
        tasks = [c.remediation[k] for k in sorted(c.remediation)]
        await conn.execute(_REMEDIATION_SQL, *([t[name] for t in tasks] for name in REMEDIATION_COLUMNS))


async def _write_facts(conn: asyncpg.Connection, facts: list[dict[str, Any]]) -> None:
    columns = [[f[name] for f in facts] for name in FACT_COLUMNS]
    await conn.execute(_FACTS_SQL, *columns)
