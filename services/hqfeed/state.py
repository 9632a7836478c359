"""The aggregator's state between batches: complaint facts and open breaches (schema ``hqfeed``).

Read before a batch is folded, written in the batch's transaction: one statement per table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import asyncpg

from services.hqfeed.facts import BatchChanges, ComplaintFacts
from shared.open_breaches import save_open_breaches

_DATES = frozenset({"received_day"})
_TIMES = frozenset(n for n in ComplaintFacts.model_fields if n.endswith("_at") or n == "hold_since")


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")


def dump_facts(f: ComplaintFacts) -> str:
    return json.dumps(f.model_dump(), default=_json, separators=(",", ":"))


def load_facts_json(raw: str) -> ComplaintFacts:
    data: dict[str, Any] = json.loads(raw)
    for name in _TIMES:
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    for name in _DATES:
        if data.get(name) is not None:
            data[name] = date.fromisoformat(data[name])
    return ComplaintFacts.model_construct(**data)  # as folded: checked when published


async def load_facts(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, ComplaintFacts]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT facts::text AS facts FROM complaints WHERE complaint_id = ANY($1::uuid[])", wanted
    )
    out: dict[str, ComplaintFacts] = {}
    for row in rows:
        f = load_facts_json(row["facts"])
        out[f.complaint_id] = f
    return out


async def load_open_breaches(conn: asyncpg.Connection, subjects: Iterable[str]) -> dict[tuple[str, str], str]:
    """(subject, SLA) → branch of the open breaches of ``subjects``."""
    wanted = list(subjects)
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT subject_id, sla, branch_id FROM open_breaches WHERE subject_id = ANY($1::text[])", wanted
    )
    return {(r["subject_id"], r["sla"]): r["branch_id"] for r in rows}


async def save_state(conn: asyncpg.Connection, c: BatchChanges) -> None:
    if c.complaints:
        ids = sorted(c.complaints)
        await conn.execute(
            """INSERT INTO complaints (complaint_id, facts)
               SELECT * FROM unnest($1::uuid[], $2::jsonb[])
               ON CONFLICT (complaint_id) DO UPDATE SET facts = EXCLUDED.facts""",
            ids,
            [dump_facts(c.complaints[i]) for i in ids],
        )
    await save_open_breaches(conn, c.breaches_deleted, c.breaches_added)
