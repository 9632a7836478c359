"""Figures and their printing."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


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
