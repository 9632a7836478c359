"""The regulatory complaint statistics report for a period (投诉统计): JSON and CSV.

Population: complaints *received* in the period (branch-local receipt day), optionally one region.
Rows: one per dimension combination (category × nature × channel). Measures are additive counts
(and one sum), so the totals row is the sum of the rows and every share is computed from sums.

Built to grow (issue 8): a dimension is a column of the ``complaints`` facts table, a measure an
SQL aggregate over it; adding cause codes, business type, extensions approved or reviews is adding
a fact column and an entry to :data:`DIMENSIONS` / :data:`MEASURES`.

Handling time = receipt → first decision (the answer given to the customer), minus the time the
case was on hold before it (waiting on the customer, external appraisal). "Within 15 days" means a
handling time ≤ 15 × 24 h; undecided complaints count as not within.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

DAY = 86_400


@dataclass(frozen=True)
class Measure:
    name: str
    sql: str
    description: str


#: dimensions a report can be broken down by (columns of ``complaints``; ``by=`` picks them)
AVAILABLE_DIMENSIONS: tuple[str, ...] = (
    "category",
    "nature",
    "channel",
    "business_type",
    "cause_code",
    "regulatory_profile",
    "review_outcome",
)
#: the regulator's default breakdown
DIMENSIONS: tuple[str, ...] = ("category", "nature", "channel")

#: handling-time distribution: (column, upper bound in days); decided complaints only
HANDLING_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("handled_le_1d", 1),
    ("handled_le_3d", 3),
    ("handled_le_7d", 7),
    ("handled_le_15d", 15),
    ("handled_le_30d", 30),
    ("handled_le_60d", 60),
    ("handled_over_60d", None),
)


def _bucket_sql(index: int) -> str:
    upper = HANDLING_BUCKETS[index][1]
    lower = HANDLING_BUCKETS[index - 1][1] if index > 0 else None
    conditions = ["handling_seconds IS NOT NULL"]
    if lower is not None:
        conditions.append(f"handling_seconds > {lower * DAY}")
    if upper is not None:
        conditions.append(f"handling_seconds <= {upper * DAY}")
    return f"count(*) FILTER (WHERE {' AND '.join(conditions)})"


MEASURES: tuple[Measure, ...] = (
    Measure("received", "count(*)", "complaints received in the period"),
    Measure("decided", "count(*) FILTER (WHERE first_decided_at IS NOT NULL)", "given a decision (answered)"),
    Measure("pending", "count(*) FILTER (WHERE first_decided_at IS NULL)", "no decision yet"),
    Measure("closed", "count(*) FILTER (WHERE closed)", "closed now"),
    Measure(
        "decided_within_15d", f"count(*) FILTER (WHERE handling_seconds <= {15 * DAY})", "decided ≤ 15 days"
    ),
    Measure(
        "decided_within_30d", f"count(*) FILTER (WHERE handling_seconds <= {30 * DAY})", "decided ≤ 30 days"
    ),
    Measure(
        "decided_within_60d", f"count(*) FILTER (WHERE handling_seconds <= {60 * DAY})", "decided ≤ 60 days"
    ),
    Measure("extended", "count(*) FILTER (WHERE extensions > 0)", "regulatory deadline extended"),
    Measure(
        "extension_requested",
        "count(*) FILTER (WHERE extensions_requested > 0)",
        "a further extension requested (needs approval)",
    ),
    Measure(
        "extension_approved",
        "count(*) FILTER (WHERE extensions_approved > 0)",
        "a further extension approved",
    ),
    Measure("reviewed", "count(*) FILTER (WHERE reviews > 0)", "a review by the higher level requested"),
    Measure("bank_at_fault", "count(*) FILTER (WHERE bank_at_fault)", "closed with the bank at fault"),
    Measure("escalated", "count(*) FILTER (WHERE escalations > 0)", "escalated at least once"),
    Measure("reopened", "count(*) FILTER (WHERE reopened > 0)", "reopened at least once"),
    Measure("fcr", "count(*) FILTER (WHERE fcr)", "resolved at first contact"),
    Measure("with_root_cause", "count(*) FILTER (WHERE root_cause)", "closed with a root cause (溯源整改)"),
    Measure("handling_seconds_sum", "coalesce(sum(handling_seconds), 0)::float8", "sum of handling times"),
    *(
        Measure(name, _bucket_sql(i), f"handling time bucket {name}")
        for i, (name, _) in enumerate(HANDLING_BUCKETS)
    ),
)

#: shares in the totals and per row: (name, numerator, denominator)
SHARES: tuple[tuple[str, str, str], ...] = (
    ("share_decided_within_15d", "decided_within_15d", "received"),
    ("share_decided_within_30d", "decided_within_30d", "received"),
    ("share_decided_within_60d", "decided_within_60d", "received"),
    ("share_decided", "decided", "received"),
    ("share_fcr", "fcr", "closed"),
)


def _derive(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name, num, den in SHARES:
        out[name] = None if not row[den] else row[num] / row[den]
    out["avg_handling_days"] = (
        None if not row["decided"] else row["handling_seconds_sum"] / row["decided"] / DAY
    )
    return out


def totals(rows: Sequence[dict[str, Any]], dimensions: Sequence[str] = DIMENSIONS) -> dict[str, Any]:
    """The sum of the rows' measures, with the shares recomputed from the sums."""
    total: dict[str, Any] = {d: "ALL" for d in dimensions}
    for m in MEASURES:
        total[m.name] = sum(r[m.name] for r in rows) if rows else 0
    return _derive(total)


def build(
    rows: Sequence[dict[str, Any]],
    *,
    first: date,
    last: date,
    branches: int,
    dimensions: Sequence[str] = DIMENSIONS,
    **extra: Any,
) -> dict[str, Any]:
    derived = [_derive(r) for r in rows]
    total = totals(rows, dimensions)
    per_1000 = None if not branches else total["received"] * 1000 / branches
    return {
        "from": first,
        "to": last,
        "dimensions": list(dimensions),
        **extra,
        "definitions": {
            "population": "complaints received in the period (branch-local receipt day)",
            "handling_time": "receipt → first decision, minus time on hold before it",
            **{m.name: m.description for m in MEASURES},
        },
        "branches": branches,
        "complaints_per_1000_branches": per_1000,
        "totals": total,
        "handling_time_distribution": {name: total[name] for name, _ in HANDLING_BUCKETS}
        | {"pending": total["pending"]},
        "rows": derived,
    }


MEASURE_COLUMNS: tuple[str, ...] = (
    *(m.name for m in MEASURES),
    *(s[0] for s in SHARES),
    "avg_handling_days",
)
CSV_COLUMNS: tuple[str, ...] = (*DIMENSIONS, *MEASURE_COLUMNS)


def to_csv(report: dict[str, Any]) -> str:
    """The rows and a final ``ALL`` totals row; shares as fractions with 4 decimals."""
    columns = (*report.get("dimensions", DIMENSIONS), *MEASURE_COLUMNS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in [*report["rows"], report["totals"]]:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def parse_dimensions(text: str | None) -> tuple[str, ...]:
    """``category,nature`` → the dimensions, in that order (ValueError for an unknown one)."""
    if not text:
        return DIMENSIONS
    wanted = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in wanted if d not in AVAILABLE_DIMENSIONS]
    if unknown or not wanted or len(set(wanted)) != len(wanted):
        raise ValueError(f"by: a comma-separated list of distinct {', '.join(AVAILABLE_DIMENSIONS)}")
    return wanted


async def query_rows(
    conn: asyncpg.Connection,
    first: date,
    last: date,
    branches: Sequence[str] | None,
    dimensions: Sequence[str] = DIMENSIONS,
) -> list[dict[str, Any]]:
    dims = ", ".join(f"coalesce({d}, 'unknown') AS {d}" for d in dimensions)
    measures = ", ".join(f"{m.sql} AS {m.name}" for m in MEASURES)
    where = "received_day BETWEEN $1 AND $2" + (
        "" if branches is None else " AND branch_id = ANY($3::text[])"
    )
    args: list[Any] = [first, last] + ([list(branches)] if branches is not None else [])
    positions = ", ".join(str(i + 1) for i in range(len(dimensions)))
    rows = await conn.fetch(
        f"""SELECT {dims}, {measures} FROM complaints WHERE {where}
            GROUP BY {positions} ORDER BY {positions}""",
        *args,
    )
    return [dict(r) for r in rows]
