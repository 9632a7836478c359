"""Read queries behind HQ's API: a branch, a ranking of branches, a region, alerts."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from services.hq.kpis import (
    COUNTERS,
    DERIVED_SUMS,
    KPIS,
    SLA_FOLLOWUP,
    SLA_VERIFICATION,
    compute,
    wait_histogram,
)
from services.hq.patterns import merge_episodes
from services.hq.regions import Regions

_SUMS = ", ".join(f"sum({c})::float8 AS {c}" for c in COUNTERS)
_COUNTER_REF = re.compile(r"\bs\.([a-z0-9_]+)")


def _branch_filter(branches: Sequence[str] | None, param: int) -> str:
    return "" if branches is None else f" AND branch_id = ANY(${param}::text[])"


async def period_sums(
    conn: asyncpg.Connection, first: date, last: date, branches: Sequence[str] | None = None
) -> dict[str, float]:
    """Every counter summed over the period (and branches, if given)."""
    args: list[Any] = [first, last] + ([list(branches)] if branches is not None else [])
    row = await conn.fetchrow(
        f"SELECT {_SUMS} FROM branch_day WHERE day BETWEEN $1 AND $2{_branch_filter(branches, 3)}", *args
    )
    return {k: float(v or 0) for k, v in dict(row or {}).items()}


async def sla_by_policy(
    conn: asyncpg.Connection, first: date, last: date, branches: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    args: list[Any] = [first, last] + ([list(branches)] if branches is not None else [])
    rows = await conn.fetch(
        f"""SELECT sla, sum(met)::int8 AS met, sum(breached)::int8 AS breached, sum(late)::int8 AS late,
                   sum(at_risk)::int8 AS at_risk
            FROM branch_day_sla WHERE day BETWEEN $1 AND $2{_branch_filter(branches, 3)}
            GROUP BY sla ORDER BY sla""",
        *args,
    )
    return [
        {
            **dict(r),
            "compliance": None if r["met"] + r["breached"] == 0 else r["met"] / (r["met"] + r["breached"]),
        }
        for r in rows
    ]


async def by_category(
    conn: asyncpg.Connection, first: date, last: date, branches: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    args: list[Any] = [first, last] + ([list(branches)] if branches is not None else [])
    rows = await conn.fetch(
        f"""SELECT category, nature, sum(received)::int8 AS received, sum(closed)::int8 AS closed
            FROM branch_day_category WHERE day BETWEEN $1 AND $2{_branch_filter(branches, 3)}
            GROUP BY category, nature HAVING sum(received) <> 0 OR sum(closed) <> 0
            ORDER BY category, nature""",
        *args,
    )
    return [dict(r) for r in rows]


async def open_breaches(conn: asyncpg.Connection, branches: Sequence[str] | None = None) -> dict[str, Any]:
    """Deadlines breached and not done yet, now: by SLA, and branches breaching."""
    args: list[Any] = [list(branches)] if branches is not None else []
    where = "" if branches is None else " WHERE branch_id = ANY($1::text[])"
    rows = await conn.fetch(
        f"""SELECT sla, count(*)::int8 AS open, count(DISTINCT branch_id)::int8 AS branches
            FROM open_breaches{where} GROUP BY sla ORDER BY sla""",
        *args,
    )
    breaching = await conn.fetchval(f"SELECT count(DISTINCT branch_id) FROM open_breaches{where}", *args)
    overdue = sum(r["open"] for r in rows if r["sla"] in (SLA_FOLLOWUP, SLA_VERIFICATION))
    return {
        "by_sla": {r["sla"]: r["open"] for r in rows},
        "branches_breaching": int(breaching or 0),
        "followups_overdue_now": int(overdue),
    }


def kpi_view(sums: dict[str, float], target: float) -> dict[str, Any]:
    return {"kpis": compute(sums, target), "counters": sums, "wait_histogram": wait_histogram(sums)}


async def branch_detail(
    conn: asyncpg.Connection, branch_id: str, first: date, last: date, target: float
) -> dict[str, Any]:
    head = await conn.fetchrow(
        """SELECT (SELECT complaints_received FROM branch_complaints WHERE branch_id = $1)
                      AS complaints_received,
                  (SELECT last_event_at FROM branch_complaints WHERE branch_id = $1) AS last_complaint_at,
                  (SELECT last_event_at FROM branches WHERE branch_id = $1) AS last_event_at,
                  (SELECT first_event_at FROM branches WHERE branch_id = $1) AS first_event_at""",
        branch_id,
    )
    assert head is not None
    sums = await period_sums(conn, first, last, [branch_id])
    alerts = await list_alerts(conn, kind=None, since=None, limit=20, branch_id=branch_id)
    return {
        "complaints_received": int(head["complaints_received"] or 0),
        "last_event_at": head["last_event_at"] or head["last_complaint_at"],
        "first_event_at": head["first_event_at"],
        **kpi_view(sums, target),
        "sla": await sla_by_policy(conn, first, last, [branch_id]),
        "by_category": await by_category(conn, first, last, [branch_id]),
        "now": await open_breaches(conn, [branch_id]),
        "alerts": alerts,
    }


async def ranking(
    conn: asyncpg.Connection,
    *,
    sort: str,
    descending: bool,
    first: date,
    last: date,
    branches: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Branches active in the period, ordered by one KPI (undefined values last).

    Two steps, so ranking thousands of branches stays cheap: sum only the counters the KPI needs
    for every branch and keep the page; then sum every counter for the page's branches only."""
    kpi = KPIS[sort]
    needed = sorted(set(_COUNTER_REF.findall(kpi.sql))) or ["events"]
    sums = ", ".join(f"sum(({DERIVED_SUMS.get(c, c)})::float8) AS {c}" for c in needed)
    args: list[Any] = [first, last, limit, offset] + ([list(branches)] if branches is not None else [])
    direction = "DESC" if descending else "ASC"
    page = await conn.fetch(
        f"""SELECT s.branch_id, {kpi.sql} AS sort_value, count(*) OVER () AS total_branches FROM (
                SELECT branch_id, {sums} FROM branch_day
                WHERE day BETWEEN $1 AND $2{_branch_filter(branches, 5)} GROUP BY branch_id) s
            ORDER BY sort_value {direction} NULLS LAST, s.branch_id LIMIT $3 OFFSET $4""",
        *args,
    )
    if not page:
        return 0, []
    names = [r["branch_id"] for r in page]
    detail = {
        r["branch_id"]: dict(r)
        for r in await conn.fetch(
            f"""SELECT branch_id, {_SUMS} FROM branch_day
                WHERE day BETWEEN $1 AND $2 AND branch_id = ANY($3::text[]) GROUP BY branch_id""",
            first,
            last,
            names,
        )
    }
    rows = [{**detail[r["branch_id"]], "sort_value": r["sort_value"]} for r in page]
    return int(page[0]["total_branches"]), rows


async def known_branches(conn: asyncpg.Connection) -> list[str]:
    return [r["branch_id"] for r in await conn.fetch("SELECT branch_id FROM branches ORDER BY branch_id")]


class BranchDirectory:
    """Known branches by region, cached for a few seconds (the region filter of every query)."""

    def __init__(self, regions: Regions, ttl: float = 5.0) -> None:
        self.regions = regions
        self.ttl = ttl
        self._at = 0.0
        self._by_region: dict[str, list[str]] = {}
        self._all: list[str] = []

    async def refresh(self, conn: asyncpg.Connection, force: bool = False) -> None:
        if force or time.monotonic() - self._at > self.ttl:
            self._all = await known_branches(conn)
            self._by_region = self.regions.group(self._all)
            self._at = time.monotonic()

    async def in_region(self, conn: asyncpg.Connection, region: str) -> list[str]:
        await self.refresh(conn)
        return list(self._by_region.get(region, []))

    async def by_region(self, conn: asyncpg.Connection) -> dict[str, list[str]]:
        await self.refresh(conn)
        return {k: list(v) for k, v in self._by_region.items()}

    async def count(self, conn: asyncpg.Connection) -> int:
        await self.refresh(conn)
        return len(self._all)

    async def all_branches(self, conn: asyncpg.Connection) -> list[str]:
        await self.refresh(conn)
        return list(self._all)


_SPIKE_COUNTS = """
SELECT e.i, count(DISTINCT s.branch_id)::int AS branches, coalesce(sum(s.complaints), 0)::int AS complaints,
       (array_agg(DISTINCT s.branch_id ORDER BY s.branch_id))[1:50] AS branch_ids,
       min(s.slot) AS first_slot, max(s.slot) AS last_slot
FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS e(i, category, ws, we)
JOIN crisis_slots s ON s.category = e.category AND s.slot >= e.ws AND s.slot < e.we
GROUP BY e.i
"""


async def list_alerts(
    conn: asyncpg.Connection, *, kind: str | None, since: Any, limit: int, branch_id: str | None = None
) -> list[dict[str, Any]]:
    """Spike episodes (adjacent buckets merged) and repeat complainants, newest first, with whether
    (and as which event) each went out on hq.events.v1."""
    published = {
        r["alert_key"]: dict(r)
        for r in await conn.fetch("SELECT alert_key, alert_id, raised_at, stream_id FROM alert_events")
    }
    out: list[dict[str, Any]] = []
    if kind in (None, "spike"):
        rows = await conn.fetch(
            """SELECT alert_key, category, window_start, window_end FROM spike_alerts
               WHERE $1::timestamptz IS NULL OR window_end >= $1""",
            since,
        )
        episodes = merge_episodes([dict(r) for r in rows])
        counts = {
            r["i"]: r
            for r in await conn.fetch(
                _SPIKE_COUNTS,
                list(range(len(episodes))),
                [e.category for e in episodes],
                [e.window_start for e in episodes],
                [e.window_end for e in episodes],
            )
        }
        for i, e in enumerate(episodes):
            n = counts.get(i)
            ids = list(n["branch_ids"]) if n else []
            if branch_id is not None and branch_id not in ids:
                continue
            event = next((published[k] for k in e.keys if k in published), None)
            out.append(
                {
                    "alert_key": e.alert_key,
                    "kind": "spike",
                    "category": e.category,
                    "customer_ref": None,
                    "window_start": e.window_start,
                    "window_end": e.window_end,
                    "branches": n["branches"] if n else 0,
                    "complaints": n["complaints"] if n else 0,
                    "branch_ids": ids,
                    # when the complaints came (slots); the window span runs from the first
                    # triggering window's start to the last one's end
                    "complaints_from": n["first_slot"] if n else None,
                    "complaints_until": n["last_slot"] if n else None,
                    "buckets": e.keys,
                    **_published(event),
                }
            )
    if kind in (None, "repeat_complainant"):
        rows = await conn.fetch(
            """SELECT * FROM repeat_alerts WHERE ($1::timestamptz IS NULL OR last_at >= $1)
               AND ($2::text IS NULL OR $2 = ANY(branch_ids))""",
            since,
            branch_id,
        )
        for r in rows:
            out.append(
                {
                    "alert_key": r["alert_key"],
                    "kind": "repeat_complainant",
                    "category": None,
                    "customer_ref": r["customer_ref"],
                    "window_start": r["first_at"],
                    "window_end": r["last_at"],
                    "branches": r["branches"],
                    "complaints": r["complaints"],
                    "branch_ids": list(r["branch_ids"]),
                    "complaints_from": r["first_at"],
                    "complaints_until": r["last_at"],
                    "buckets": [r["alert_key"]],
                    **_published(published.get(r["alert_key"])),
                }
            )
    out.sort(key=lambda a: (a["window_start"], a["alert_key"]), reverse=True)
    return out[:limit]


def _published(event: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "published": event is not None,
        "alert_id": None if event is None else event["alert_id"],
        "raised_at": None if event is None else event["raised_at"],
        "stream_id": None if event is None else event["stream_id"],
    }
