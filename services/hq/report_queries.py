"""The regulatory complaint report's two queries (one ``GROUPING SETS`` scan of the period's
complaints, the remediation actions at ``as_of``) and :func:`generate`, which runs them and builds
the report (:func:`services.hq.report.build`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.hq.config import CodeTables, CustomerCounts
from services.hq.report import CLASSIFICATIONS, DIMENSIONS, MEASURES, OVERDUE_LIST_LIMIT, build


def _where(branches: Sequence[str] | None, param: int) -> str:
    return "c.received_day BETWEEN $1 AND $2" + (
        "" if branches is None else f" AND c.branch_id = ANY(${param}::text[])"
    )


def grouping_mask(columns: Sequence[str], dimensions: Sequence[str]) -> int:
    """PostgreSQL's ``GROUPING(columns…)`` of a grouping set: a 1 bit per column not grouped by."""
    n = len(columns)
    return sum(1 << (n - 1 - i) for i, c in enumerate(columns) if c not in dimensions)


async def query_sets(
    conn: asyncpg.Connection,
    first: date,
    last: date,
    branches: Sequence[str] | None,
    sets: Sequence[Sequence[str]],
) -> list[list[dict[str, Any]]]:
    """Every measure per group of each dimension set, from one scan of the period's complaints."""
    columns = list(dict.fromkeys(c for s in sets for c in s))
    distinct = list(dict.fromkeys(tuple(s) for s in sets))
    measures = ", ".join(f"{m.sql} AS {m.name}" for m in MEASURES)
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in distinct)
    args: list[Any] = [first, last] + ([list(branches)] if branches is not None else [])
    found = await conn.fetch(
        f"""SELECT {", ".join(columns)}, GROUPING({", ".join(columns)}) AS grouping_mask, {measures}
            FROM complaints c WHERE {_where(branches, 3)}
            GROUP BY GROUPING SETS ({grouping})""",
        *args,
    )
    by_mask: dict[int, list[dict[str, Any]]] = {}
    for r in found:
        by_mask.setdefault(r["grouping_mask"], []).append(dict(r))
    out = []
    for dims in sets:
        rows = [
            {**{d: r[d] for d in dims}, **{m.name: r[m.name] for m in MEASURES}}
            for r in by_mask.get(grouping_mask(columns, dims), [])
        ]
        rows.sort(key=lambda r: tuple((r[d] is None, str(r[d] or "")) for d in dims))
        out.append(rows)
    return out


_ACTIONS = """
WITH a AS (
    SELECT r.task_id, r.complaint_id, r.branch_id, r.action_id, r.owner, r.completed_at, r.cancelled_at,
           coalesce(r.created_at, r.scheduled_at) AS created, coalesce(r.due_at, r.followup_due_at) AS due
    FROM remediation_actions r JOIN complaints c ON c.complaint_id = r.complaint_id
    WHERE {where}
), s AS (
    SELECT *, coalesce(completed_at <= $3, false) AS done,
           coalesce(cancelled_at <= $3, false) AND NOT coalesce(completed_at <= $3, false) AS dropped
    FROM a WHERE created <= $3
), t AS (
    SELECT *, NOT done AND NOT dropped AS open, coalesce(done AND completed_at > due, false) AS late FROM s
)
"""

_ACTION_COUNTS = """
SELECT count(*) AS actions, count(*) FILTER (WHERE done) AS completed,
       count(*) FILTER (WHERE done AND NOT late) AS completed_on_time,
       count(*) FILTER (WHERE late) AS completed_late, count(*) FILTER (WHERE dropped) AS cancelled,
       count(*) FILTER (WHERE open) AS open, count(*) FILTER (WHERE open AND due < $3) AS overdue,
       count(*) FILTER (WHERE open AND NOT coalesce(due < $3, false)) AS open_not_yet_due
FROM t
"""

_OVERDUE = """
SELECT task_id, complaint_id, branch_id, action_id, owner, due AS due_at,
       extract(epoch FROM $3 - due)::float8 / 86400 AS days_overdue
FROM t WHERE open AND due < $3 ORDER BY due, task_id LIMIT {limit}
"""


async def query_remediation(
    conn: asyncpg.Connection, first: date, last: date, branches: Sequence[str] | None, as_of: datetime
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The population's remediation actions by status at ``as_of``, and the overdue ones."""
    args: list[Any] = [first, last, as_of] + ([list(branches)] if branches is not None else [])
    head = _ACTIONS.format(where=_where(branches, 4))
    counts = await conn.fetchrow(head + _ACTION_COUNTS, *args)
    overdue = await conn.fetch(head + _OVERDUE.format(limit=OVERDUE_LIST_LIMIT), *args)
    return (
        {k: int(v or 0) for k, v in dict(counts or {}).items()},
        [
            {k: (str(v) if k.endswith("_id") and v is not None else v) for k, v in dict(r).items()}
            for r in overdue
        ],
    )


async def generate(
    conn: asyncpg.Connection,
    *,
    first: date,
    last: date,
    branches: Sequence[str] | None,
    covered_branches: Sequence[str],
    as_of: datetime,
    customers: CustomerCounts,
    codes: CodeTables,
    dimensions: Sequence[str] = DIMENSIONS,
    **extra: Any,
) -> dict[str, Any]:
    """The report for complaints received ``first``…``last`` in ``branches`` (None: all);
    ``covered_branches`` are the rates' denominator (every known branch, or the region's)."""
    as_of = as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC)
    names = list(CLASSIFICATIONS)
    found = await query_sets(conn, first, last, branches, [dimensions, *CLASSIFICATIONS.values()])
    remediation, overdue = await query_remediation(conn, first, last, branches, as_of)
    return build(
        found[0],
        first=first,
        last=last,
        branches=len(covered_branches),
        customers=customers.total(covered_branches),
        dimensions=dimensions,
        classifications=dict(zip(names, found[1:], strict=True)),
        codes=codes,
        remediation=remediation,
        overdue_actions=overdue,
        as_of=as_of,
        **extra,
    )
