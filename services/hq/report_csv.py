"""The regulatory complaint report as CSV: the whole report in one file (a ``# section:`` line
before each section) or one section as a plain table; and the reader for that file."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from services.hq.report import (
    CLASSIFICATIONS,
    CODE_TABLES,
    DIMENSIONS,
    MEASURE_COLUMNS,
    REMEDIATION_STATUSES,
    SECTIONS,
    _dim,
)


def _table(report: Mapping[str, Any], section: str) -> tuple[Sequence[str], list[Sequence[Any]]]:
    if section == "summary":
        summary = report["summary"]
        defs = report.get("definitions", {})
        return ("metric", "value", "definition"), [(k, v, defs.get(k, "")) for k, v in summary.items()]
    if section == "rows":
        dims = report.get("dimensions", DIMENSIONS)
        columns = (*dims, *MEASURE_COLUMNS)
        body = [*report["rows"], report["totals"]]
        return columns, [[_dim(r.get(c)) if c in dims else r.get(c) for c in columns] for r in body]
    if section in CLASSIFICATIONS:
        dims = CLASSIFICATIONS[section]
        labels = ("label", "code_status") if any(d in CODE_TABLES for d in dims) else ()
        columns = (*dims, *labels, *MEASURE_COLUMNS)
        return columns, [[r.get(c) for c in columns] for r in report[section]]
    if section == "handling_time":
        columns = ("bucket", "from_days", "to_days", "complaints", "share_of_decided")
        return columns, [[r[c] for c in columns] for r in report["handling_time"]]
    if section == "remediation":
        defs = REMEDIATION_STATUSES
        return ("status", "actions", "definition"), [
            (k, v, defs[k]) for k, v in report["remediation"].items()
        ]
    if section == "overdue_actions":
        columns = ("task_id", "complaint_id", "branch_id", "action_id", "owner", "due_at", "days_overdue")
        return columns, [[a.get(c) for c in columns] for a in report["overdue_actions"]]
    raise ValueError(f"unknown section {section!r}")


#: a section as (columns, rows): the CSV section, the XLSX sheet
section_table = _table


def to_csv(report: Mapping[str, Any], section: str | None = None) -> str:
    """One section as a plain table, or (no section) every section in one file: a ``# section: name``
    line, the section's header and rows, a blank line. Shares are fractions with 4 decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if section is not None:
        columns, body = _table(report, section)
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in r] for r in body)
        return out.getvalue()
    region = report.get("region") or "all regions"
    title = f"# BranchCare complaint report: received {report['from']} to {report['to']}; {region}"
    writer.writerow([f"{title}; remediation as of {_cell(report.get('as_of'))}"])
    for name in SECTIONS:
        columns, body = _table(report, name)
        writer.writerow([])
        writer.writerow([f"# section: {name}"])
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in r] for r in body)
    return out.getvalue()


def parse_csv_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """The sections of a whole-report CSV back as tables (for clients and tests)."""
    sections: dict[str, list[dict[str, str]]] = {}
    name: str | None = None
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"))):
        if not row or not any(row):
            name, header = None, None
        elif row[0].startswith("# section: "):
            name, header = row[0].removeprefix("# section: "), None
            sections[name] = []
        elif name is not None and header is None:
            header = row
        elif name is not None and header is not None:
            sections[name].append(dict(zip(header, row, strict=True)))
    return sections


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
