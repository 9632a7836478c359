"""The regulatory complaint statistics report for a period (投诉统计): JSON and CSV (XLSX: workbook.py).

Population: complaints *received* in the period (branch-local receipt day), optionally one region.
Every figure is about that cohort, as HQ knows it now; remediation actions are counted at the
report's ``as_of`` moment (default now). Measures are additive counts and sums over the
``complaints`` facts, so every breakdown's totals row is the sum of its rows and every share is
computed from sums.

"Decided within 15 / 30 / 60 days" uses the complaint service's own figure: the ``counted_days`` of
the regulatory clock (``complaint.regulatory``) that the first decision met, paused time (external
appraisal, waiting on the customer) excluded. A case without such a calendar-day clock (business-day
clocks, cases from before regulatory profiles) falls back to receipt → first decision minus the
time on hold. An undecided complaint is not within.

Sections (JSON keys, and CSV sections): ``summary``, ``rows`` (category × nature × channel, or
``by=``), ``by_channel``, ``by_business_type``, ``by_cause_code``, ``handling_time``,
``remediation``, ``overdue_actions``. The breakdowns come from one SQL scan (``GROUPING SETS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.hq.config import CODE_TABLES, CodeTables

DAY = 86_400
#: "decided within N days"
WITHIN_DAYS: tuple[int, ...] = (15, 30, 60)
PER_BRANCHES = 1_000
PER_CUSTOMERS = 10_000_000
#: overdue remediation actions listed one by one (the counts cover all of them)
OVERDUE_LIST_LIMIT = 200
UNSPECIFIED = "unspecified"


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
#: the classification sections: section → its dimensions (codes are looked up in the case's profile)
CLASSIFICATIONS: dict[str, tuple[str, ...]] = {
    "by_channel": ("channel",),
    "by_business_type": ("regulatory_profile", "business_type"),
    "by_cause_code": ("regulatory_profile", "cause_code"),
}
SECTIONS: tuple[str, ...] = (
    "summary",
    "rows",
    *CLASSIFICATIONS,
    "handling_time",
    "remediation",
    "overdue_actions",
)

#: handling-time distribution: (column, upper bound in days) over the decision days; decided only
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
    conditions = ["decision_days IS NOT NULL"]
    if lower is not None:
        conditions.append(f"decision_days > {lower}")
    if upper is not None:
        conditions.append(f"decision_days <= {upper}")
    return f"count(*) FILTER (WHERE {' AND '.join(conditions)})"


def _sum(column: str) -> str:
    return f"coalesce(sum({column}), 0)::int8"


MEASURES: tuple[Measure, ...] = (
    Measure("received", "count(*)", "complaints received in the period"),
    Measure("decided", "count(*) FILTER (WHERE first_decided_at IS NOT NULL)", "given a decision (answered)"),
    Measure("pending", "count(*) FILTER (WHERE first_decided_at IS NULL)", "no decision yet"),
    Measure("closed", "count(*) FILTER (WHERE closed)", "closed now"),
    *(
        Measure(
            f"decided_within_{n}d",
            f"count(*) FILTER (WHERE decision_days <= {n})",
            f"first decision within {n} days (regulatory counted days, paused time excluded)",
        )
        for n in WITHIN_DAYS
    ),
    Measure(
        "decided_within_limit",
        "count(*) FILTER (WHERE decided_within_limit)",
        "first decision within the regulatory limit in force then (15, or 30 / 60 after extensions)",
    ),
    Measure(
        "decided_after_limit",
        "count(*) FILTER (WHERE NOT decided_within_limit)",
        "first decision after the regulatory limit",
    ),
    Measure(
        "extended", "count(*) FILTER (WHERE extensions > 0)", "complaints whose regulatory deadline moved"
    ),
    Measure(
        "extensions_requested",
        _sum("extensions_requested"),
        "further extensions requested for approval (ExtensionRequested)",
    ),
    Measure("extensions_approved", _sum("extensions_approved"), "requests approved by another person"),
    Measure("extensions_denied", _sum("extensions_denied"), "requests denied (the earlier limit stands)"),
    Measure("reviewed", "count(*) FILTER (WHERE reviews > 0)", "complaints whose decision a review examined"),
    Measure("reviews_requested", _sum("reviews"), "reviews by the higher level requested (ReviewRequested)"),
    Measure("reviews_decided", _sum("reviews_decided"), "reviews decided (ReviewDecided)"),
    Measure("review_original_upheld", _sum("reviews_upheld"), "reviews that upheld the original decision"),
    Measure("review_decision_changed", _sum("reviews_changed"), "reviews that changed the decision"),
    Measure(
        "reviews_decided_within_limit",
        _sum("reviews_within_limit"),
        "reviews decided within the review's own limit",
    ),
    Measure("bank_at_fault", "count(*) FILTER (WHERE bank_at_fault)", "closed with the bank at fault"),
    Measure("escalated", "count(*) FILTER (WHERE escalations > 0)", "escalated at least once"),
    Measure("reopened", "count(*) FILTER (WHERE reopened > 0)", "reopened at least once"),
    Measure("fcr", "count(*) FILTER (WHERE fcr)", "resolved at first contact"),
    Measure("with_root_cause", "count(*) FILTER (WHERE root_cause)", "closed with a root cause (溯源整改)"),
    Measure(
        "handling_days_sum",
        "coalesce(sum(decision_days) FILTER (WHERE first_decided_at IS NOT NULL), 0)::float8",
        "sum of the decision days of decided complaints",
    ),
    *(
        Measure(name, _bucket_sql(i), f"handling time bucket {name}")
        for i, (name, _) in enumerate(HANDLING_BUCKETS)
    ),
)

#: shares (name, numerator, denominator): None when the denominator is 0
SHARES: tuple[tuple[str, str, str], ...] = (
    *((f"share_decided_within_{n}d", f"decided_within_{n}d", "received") for n in WITHIN_DAYS),
    *((f"share_of_decided_within_{n}d", f"decided_within_{n}d", "decided") for n in WITHIN_DAYS),
    ("share_decided_within_limit", "decided_within_limit", "decided"),
    ("share_decided", "decided", "received"),
    ("share_fcr", "fcr", "closed"),
)
#: figures derived from measures by subtraction
DIFFERENCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("extensions_pending", "extensions_requested", ("extensions_approved", "extensions_denied")),
    ("reviews_pending", "reviews_requested", ("reviews_decided",)),
)

MEASURE_COLUMNS: tuple[str, ...] = (
    *(m.name for m in MEASURES),
    *(d[0] for d in DIFFERENCES),
    *(s[0] for s in SHARES),
    "avg_handling_days",
)
CSV_COLUMNS: tuple[str, ...] = (*DIMENSIONS, *MEASURE_COLUMNS)

#: remediation actions at ``as_of`` (the counts of the ``remediation`` section)
REMEDIATION_STATUSES: dict[str, str] = {
    "actions": "remediation actions decided by as_of (ComplaintClosed.remediation_actions)",
    "completed": "their follow-up task completed by as_of",
    "completed_on_time": "completed by the action's due time",
    "completed_late": "completed after the action's due time",
    "cancelled": "task cancelled by as_of (not completed)",
    "open": "neither completed nor cancelled at as_of",
    "overdue": "open, and the due time had passed at as_of",
    "open_not_yet_due": "open, not yet due at as_of",
}

DEFINITIONS: dict[str, str] = {
    "population": "complaints received in the period (branch-local receipt day), as known now",
    "decision_days": "days of the regulatory clock used by the first decision, paused time excluded "
    "(ClockOutcome.counted_days of complaint.regulatory); without a calendar-day clock: receipt → first "
    "decision minus time on hold",
    "as_of": "the moment remediation actions are counted at (default: now)",
    "branches": "branches HQ has events of (or the region's): the denominator of "
    "complaints_per_1000_branches",
    "customers": "customers of those branches (HQ customers file), the denominator of "
    "complaints_per_10m_customers",
    "code_status": "known: in the code table of the case's profile; unknown: not in it; "
    "unspecified: no code given",
    **{m.name: m.description for m in MEASURES},
    "extensions_pending": "extensions_requested − extensions_approved − extensions_denied",
    "reviews_pending": "reviews_requested − reviews_decided",
    **{name: f"{num} / {den}" for name, num, den in SHARES},
    "avg_handling_days": "handling_days_sum / decided",
    "complaints_per_1000_branches": "received × 1,000 / branches",
    "complaints_per_10m_customers": "received × 10,000,000 / customers",
    **{
        f"{dim}_{status}": f"complaints whose {dim.replace('_', ' ')} is {status} (see code_status)"
        for dim in CODE_TABLES
        for status in ("unknown", "unspecified")
    },
    **{f"remediation_{k}": v for k, v in REMEDIATION_STATUSES.items()},
}


# ------------------------------------------------------------------------------------- arithmetic


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


def _derive(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name, total, minus in DIFFERENCES:
        out[name] = row[total] - sum(row[m] for m in minus)
    for name, num, den in SHARES:
        out[name] = _ratio(row[num], row[den])
    out["avg_handling_days"] = _ratio(row["handling_days_sum"], row["decided"])
    return out


def totals(rows: Sequence[Mapping[str, Any]], dimensions: Sequence[str] = DIMENSIONS) -> dict[str, Any]:
    """The sum of the rows' measures, with the shares recomputed from the sums."""
    total: dict[str, Any] = {d: "ALL" for d in dimensions}
    for m in MEASURES:
        total[m.name] = sum(r[m.name] for r in rows) if rows else 0
    return _derive(total)


def rate(received: int, denominator: int, per: int) -> float | None:
    """``received`` per ``per`` units of ``denominator`` (None without a denominator)."""
    return None if not denominator else received * per / denominator


def _classified(
    section: str, rows: Sequence[Mapping[str, Any]], codes: CodeTables | None
) -> list[dict[str, Any]]:
    """A classification section's rows: codes with their label and status in the case's profile."""
    out = []
    for r in rows:
        row = _derive(r)
        code_dim = next((d for d in CLASSIFICATIONS[section] if d in CODE_TABLES), None)
        if code_dim is not None:
            status, label = (
                codes.lookup(r.get("regulatory_profile"), code_dim, r.get(code_dim))
                if codes is not None
                else ("unspecified" if r.get(code_dim) is None else "unknown", None)
            )
            row["label"], row["code_status"] = label, status
        elif section == "by_channel" and row.get("channel") is None:
            row["channel"] = UNSPECIFIED
        out.append(row)
    return out


def _code_counts(section_rows: Sequence[Mapping[str, Any]], status: str) -> int:
    return sum(int(r["received"]) for r in section_rows if r.get("code_status") == status)


def handling_time(total: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The distribution as rows: bucket, its bounds in days, complaints, share of the decided."""
    out = []
    lower: float | None = 0
    for name, upper in HANDLING_BUCKETS:
        out.append(
            {
                "bucket": name,
                "from_days": lower,
                "to_days": upper,
                "complaints": total[name],
                "share_of_decided": _ratio(total[name], total["decided"]),
            }
        )
        lower = upper
    pending = {"bucket": "pending", "from_days": None, "to_days": None, "complaints": total["pending"]}
    out.append({**pending, "share_of_decided": None})
    return out


def build(
    rows: Sequence[Mapping[str, Any]],
    *,
    first: date,
    last: date,
    branches: int,
    dimensions: Sequence[str] = DIMENSIONS,
    customers: int = 0,
    classifications: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    codes: CodeTables | None = None,
    remediation: Mapping[str, int] | None = None,
    overdue_actions: Sequence[Mapping[str, Any]] = (),
    as_of: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The report from the queried rows (pure)."""
    total = totals(rows, dimensions)
    sections = {
        name: _classified(name, (classifications or {}).get(name, ()), codes) for name in CLASSIFICATIONS
    }
    for name, section_rows in sections.items():
        total_row = totals(section_rows, CLASSIFICATIONS[name])
        if any(d in CODE_TABLES for d in CLASSIFICATIONS[name]):
            total_row.update(label=None, code_status=None)
        section_rows.append(total_row)
    remediation_counts = {k: int((remediation or {}).get(k, 0)) for k in REMEDIATION_STATUSES}
    per_branches = rate(total["received"], branches, PER_BRANCHES)
    per_customers = rate(total["received"], customers, PER_CUSTOMERS)
    extensions = {
        "complaints_extended": total["extended"],
        "requested": total["extensions_requested"],
        "approved": total["extensions_approved"],
        "denied": total["extensions_denied"],
        "pending": total["extensions_pending"],
    }
    reviews = {
        "complaints_reviewed": total["reviewed"],
        "requested": total["reviews_requested"],
        "decided": total["reviews_decided"],
        "pending": total["reviews_pending"],
        "original_upheld": total["review_original_upheld"],
        "decision_changed": total["review_decision_changed"],
        "decided_within_limit": total["reviews_decided_within_limit"],
    }
    summary: dict[str, Any] = {
        "received": total["received"],
        "decided": total["decided"],
        "pending": total["pending"],
        "closed": total["closed"],
        "share_decided": total["share_decided"],
        **{
            key: total[key]
            for n in WITHIN_DAYS
            for key in (f"decided_within_{n}d", f"share_decided_within_{n}d", f"share_of_decided_within_{n}d")
        },
        "decided_within_limit": total["decided_within_limit"],
        "decided_after_limit": total["decided_after_limit"],
        "share_decided_within_limit": total["share_decided_within_limit"],
        "avg_handling_days": total["avg_handling_days"],
        "branches": branches,
        "complaints_per_1000_branches": per_branches,
        "customers": customers,
        "complaints_per_10m_customers": per_customers,
        **{
            key: total[key]
            for key in (
                "extended",
                "extensions_requested",
                "extensions_approved",
                "extensions_denied",
                "extensions_pending",
                "reviewed",
                "reviews_requested",
                "reviews_decided",
                "reviews_pending",
                "review_original_upheld",
                "review_decision_changed",
                "reviews_decided_within_limit",
            )
        },
        **{
            f"{dim}_{status}": _code_counts(sections[f"by_{dim}"][:-1], status)
            for dim in CODE_TABLES
            for status in ("unknown", "unspecified")
        },
        **{f"remediation_{k}": v for k, v in remediation_counts.items()},
        "bank_at_fault": total["bank_at_fault"],
        "with_root_cause": total["with_root_cause"],
        "escalated": total["escalated"],
        "reopened": total["reopened"],
        "fcr": total["fcr"],
        "share_fcr": total["share_fcr"],
    }
    return {
        "from": first,
        "to": last,
        "as_of": as_of,
        "dimensions": list(dimensions),
        **extra,
        "definitions": DEFINITIONS,
        "branches": branches,
        "customers": customers,
        "complaints_per_1000_branches": per_branches,
        "complaints_per_10m_customers": per_customers,
        "summary": summary,
        "totals": total,
        "rows": [_derive({**r, **{d: _dim(r.get(d)) for d in dimensions}}) for r in rows],
        **sections,
        "handling_time": handling_time(total),
        "handling_time_distribution": {name: total[name] for name, _ in HANDLING_BUCKETS}
        | {"pending": total["pending"]},
        "extensions": extensions,
        "reviews": reviews,
        "remediation": remediation_counts,
        "overdue_actions": [dict(a) for a in overdue_actions],
    }


#: what every JSON answer carries, whichever section was asked for
HEADER: tuple[str, ...] = (
    "from",
    "to",
    "as_of",
    "dimensions",
    "region",
    "read_model_generation",
    "branches",
    "customers",
    "complaints_per_1000_branches",
    "complaints_per_10m_customers",
)


def select(report: Mapping[str, Any], section: str | None) -> dict[str, Any]:
    """The whole report, or its header and one section (``rows`` keeps its totals)."""
    if section is None:
        return dict(report)
    out = {k: report[k] for k in HEADER if k in report}
    out[section] = report[section]
    if section == "rows":
        out["totals"] = report["totals"]
    return out


def _dim(value: Any) -> Any:
    return UNSPECIFIED if value is None else value


def parse_dimensions(text: str | None) -> tuple[str, ...]:
    """``category,nature`` → the dimensions, in that order (ValueError for an unknown one)."""
    if not text:
        return DIMENSIONS
    wanted = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in wanted if d not in AVAILABLE_DIMENSIONS]
    if unknown or not wanted or len(set(wanted)) != len(wanted):
        raise ValueError(f"by: a comma-separated list of distinct {', '.join(AVAILABLE_DIMENSIONS)}")
    return wanted


def parse_section(text: str | None) -> str | None:
    if text is None or text in SECTIONS:
        return text
    raise ValueError(f"section: one of {', '.join(SECTIONS)}")
