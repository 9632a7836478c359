"""Figures and their printing."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, section: str, name: str, value: float, unit: str, note: str = "") -> float:
        self.figures.append(Figure(section, name, value, unit, note))
        progress(f"{section} / {name}: {fmt(value)} {unit} {note}".rstrip())
        return value

    def get(self, section: str, name: str) -> float:
        for f in self.figures:
            if (f.section, f.name) == (section, name):
                return f.value
        return math.nan

    def render(self) -> str:
        width = max((len(f.name) for f in self.figures), default=10)
        lines: list[str] = []
        section = None
        for f in self.figures:
            if f.section != section:
                section = f.section
                lines += ["", f"== {section}"]
            lines.append(f"  {f.name:<{width}}  {fmt(f.value):>12} {f.unit:<10} {f.note}".rstrip())
        return "\n".join(lines)


def fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def html_page(report: Report, summary: str = "") -> str:
    """The figures as a small self-contained page (a bar per figure, scaled within its section)."""
    rows: list[str] = []
    section = None
    for f in report.figures:
        if f.section != section:
            section = f.section
            rows.append(f"<tr><th colspan=4>{escape(section)}</th></tr>")
            peers = [g.value for g in report.figures if g.section == section and not math.isnan(g.value)]
            top = max((abs(v) for v in peers), default=1.0) or 1.0
        width = 0 if math.isnan(f.value) else int(200 * abs(f.value) / top)
        rows.append(
            f"<tr><td>{escape(f.name)}</td><td class=n>{escape(fmt(f.value))} {escape(f.unit)}</td>"
            f"<td><div class=bar style='width:{width}px'></div></td><td>{escape(f.note)}</td></tr>"
        )
    style = (
        "body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}"
        "th{background:#eee}.n{text-align:right;white-space:nowrap}.bar{height:10px;background:#4a7}"
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>BranchCare benchmark</title><style>{style}</style>"
        f"<h1>BranchCare benchmark</h1><pre>{escape(summary.strip())}</pre><table>{''.join(rows)}</table>"
    )
