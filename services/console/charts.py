"""Charts as inline SVG, rendered on the server: no chart library, nothing fetched at run time.

Two shapes cover the pages: a line chart of a rate over days with a target line (satisfaction),
and stacked columns of counts per period by category (HQ complaints). Values are escaped; the
output is a ``Markup`` string for the templates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#ea580c",
    "#475569",
    "#0d9488",
    "#9333ea",
)

_W, _H = 720, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 16, 40


def _empty(message: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {_W} 80" role="img" aria-label="{escape(message)}">'
        f'<text x="{_W / 2}" y="45" text-anchor="middle" class="chart-empty">{escape(message)}</text></svg>'
    )


def _axis_label(x: float, label: str) -> str:
    return f'<text x="{x:.1f}" y="{_H - 14}" text-anchor="middle" class="axis">{escape(label)}</text>'


def _tick_labels(labels: Sequence[str], every: int) -> list[tuple[int, str]]:
    return [(i, label) for i, label in enumerate(labels) if i % every == 0 or i == len(labels) - 1]


def rate_line(
    points: Sequence[tuple[str, float | None]],
    *,
    target: float | None = None,
    title: str,
    target_label: str = "target",
    empty: str = "no data",
    y_min: float = 0.0,
) -> Markup:
    """A rate (0..1) per label (e.g. day), with an optional dashed target line; gaps stay gaps."""
    known = [v for _, v in points if v is not None]
    if not known:
        return _empty(empty)
    lo = min([y_min, *known] + ([target] if target is not None else []))
    lo = max(0.0, min(lo, 1.0))
    hi = 1.0
    span = hi - lo or 1.0
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return _LEFT + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - (v - lo) / span)

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    tick = 0.1 if span > 0.3 else 0.05
    first_tick = math.ceil(lo / tick - 1e-9)
    for k in range(first_tick, round(1 / tick) + 1):
        g = k * tick
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(g):.1f}" y2="{y(g):.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y(g) + 4:.1f}" text-anchor="end" class="axis">{g * 100:.0f}%</text>'
        )
    if target is not None:
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            'class="target"/>'
            f'<text x="{_W - _RIGHT}" y="{y(target) - 5:.1f}" text-anchor="end" class="target-label">'
            f"{escape(target_label)} {target * 100:.0f}%</text>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline points="{" ".join(seg)}" class="series"/>')
    for i, (label, v) in enumerate(points):
        if v is None:
            continue
        below = target is not None and v < target
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" class="{"dot below" if below else "dot"}">'
            f"<title>{escape(label)}: {v * 100:.1f}%</title></circle>"
        )
    every = max(1, n // 10)
    for i, label in _tick_labels([p[0] for p in points], every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{_H - 14}" text-anchor="middle" class="axis">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_columns(
    periods: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    labels: Mapping[str, str],
    title: str,
    empty: str = "no data",
) -> Markup:
    """Counts per period, one stacked colour per series (category), with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(periods))]
    if not periods or not any(totals):
        return _empty(empty)
    step = max(1, math.ceil(max(totals) / 4))
    top = step * 4
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    n = len(periods)
    band = plot_w / n
    bar = max(4.0, band * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        v = step * k
        yy = _TOP + plot_h * (1 - k / 4)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" class="axis">{v:.0f}</text>'
        )
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    for i, period in enumerate(periods):
        base = float(_TOP + plot_h)
        x0 = _LEFT + band * i + (band - bar) / 2
        for name, values in series.items():
            count = values[i]
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            parts.append(
                f'<rect x="{x0:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[name]}">'
                f"<title>{escape(period)} · {escape(labels.get(name, name))}: {count}</title></rect>"
            )
    every = max(1, n // 10)
    for i, label in _tick_labels(periods, every):
        xx = _LEFT + band * (i + 0.5)
        parts.append(
            f'<text x="{xx:.1f}" y="{_H - 14}" text-anchor="middle" class="axis">{escape(label)}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch" style="background:{colours[name]}"></span>'
        f"{escape(labels.get(name, name))}</li>"
        for name in series
        if any(series[name])
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')
