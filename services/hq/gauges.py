"""Region-level gauges recomputed from the read model every few seconds (bounded labels: the
regions of the configuration, never a branch)."""

from __future__ import annotations

import logging
from collections import defaultdict

import asyncpg

from services.hq import metrics
from services.hq.components import HqComponents
from services.hq.kpis import SLA_FOLLOWUP, SLA_VERIFICATION, WAIT_COLUMNS, quantile_from_buckets, ratio
from shared.periodic import every

log = logging.getLogger(__name__)

_TODAY_COLUMNS = (
    "visits",
    "complaints_received",
    "surveys_answered",
    "surveys_satisfied",
    "sla_met",
    "sla_breached",
)


async def refresh_once(conn: asyncpg.Connection, parts: HqComponents, known_regions: set[str]) -> set[str]:
    """Set every region gauge from today's counters and the open breaches; returns the regions."""
    regions = parts.regions
    rows = await conn.fetch(
        f"SELECT branch_id, {', '.join((*_TODAY_COLUMNS, *WAIT_COLUMNS))} FROM branch_day WHERE day = $1",
        parts.today(),
    )
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    active: dict[str, int] = defaultdict(int)
    for row in rows:
        region = regions.region_of(row["branch_id"])
        active[region] += 1
        bucket = sums[region]
        for key, value in row.items():
            if key != "branch_id":
                bucket[key] += value
    breaching = await conn.fetch("SELECT DISTINCT branch_id FROM open_breaches")
    overdue = await conn.fetch(
        "SELECT branch_id, count(*) AS n FROM open_breaches WHERE sla = ANY($1::text[]) GROUP BY branch_id",
        [SLA_FOLLOWUP, SLA_VERIFICATION],
    )
    breaching_by_region: dict[str, int] = defaultdict(int)
    for row in breaching:
        breaching_by_region[regions.region_of(row["branch_id"])] += 1
    overdue_by_region: dict[str, int] = defaultdict(int)
    for row in overdue:
        overdue_by_region[regions.region_of(row["branch_id"])] += row["n"]
    metrics.BRANCHES_BREACHING.set(len(breaching))
    seen = known_regions | set(sums) | set(breaching_by_region) | set(overdue_by_region)
    for region in seen:
        s = sums.get(region, {})
        metrics.REGION_BRANCHES_ACTIVE.labels(region).set(active.get(region, 0))
        metrics.REGION_VISITS.labels(region).set(s.get("visits", 0))
        metrics.REGION_COMPLAINTS.labels(region).set(s.get("complaints_received", 0))
        p90 = quantile_from_buckets([s.get(c, 0) for c in WAIT_COLUMNS], 0.9)
        metrics.REGION_WAIT_P90.labels(region).set(p90 if p90 is not None else float("nan"))
        sat = ratio(s.get("surveys_satisfied", 0), s.get("surveys_answered", 0))
        metrics.REGION_SATISFACTION.labels(region).set(sat if sat is not None else float("nan"))
        met, breached = s.get("sla_met", 0), s.get("sla_breached", 0)
        compliance = ratio(met, met + breached)
        metrics.REGION_SLA_COMPLIANCE.labels(region).set(
            compliance if compliance is not None else float("nan")
        )
        metrics.REGION_BRANCHES_BREACHING.labels(region).set(breaching_by_region.get(region, 0))
        metrics.REGION_FOLLOWUPS_OVERDUE.labels(region).set(overdue_by_region.get(region, 0))
    return seen


async def run(parts: HqComponents) -> None:
    """The background task: refresh the gauges forever."""
    known: set[str] = set(parts.regions.configured_regions())

    async def refresh() -> None:
        nonlocal known
        async with parts.pool.acquire() as conn:
            known = await refresh_once(conn, parts, known)

    await every(parts.config.metrics_refresh_seconds, refresh, name="HQ gauges", logger=log)
