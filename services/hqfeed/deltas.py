"""KPI deltas held back until the window closes, and how several become one (pure, no I/O).

The aggregator folds a batch as soon as it has lingered ``HQFEED_CASE_LINGER_MS``: the case
records (complaint snapshots, remediation actions, merges) go out at once, the batch's
:class:`BranchKpisDelta` per branch is kept in ``pending_deltas`` in the batch's transaction. When
the window (``HQFEED_WINDOW_SECONDS``) closes, a branch's pending deltas are merged by
:func:`merge` into the one record HQ gets for that window.

:func:`merge` gives what one batch over the same events would have published: counters, SLA
outcomes, categories and crisis slots add up (entries that end at zero are left out, as the fold
leaves them out); the extremes keep their extremes; a breach opened and closed within the window
cancels out, as it does inside one batch (the fold's ``_close_breach``). The order of the deltas
matters only for breaches, and it is the order they were folded in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from shared.contracts.hqfeed import (
    FLOAT_COUNTERS,
    BranchKpisDelta,
    CategoryCounts,
    ClosedBreach,
    DayCounts,
    OpenBreach,
    SlaCounts,
    SlotCount,
)

_SLA_OUTCOMES = ("met", "breached", "late", "at_risk")


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _days(deltas: Sequence[BranchKpisDelta]) -> list[DayCounts]:
    counters: dict[date, dict[str, float]] = {}
    sla: dict[date, dict[str, dict[str, int]]] = {}
    categories: dict[date, dict[tuple[str, str, str], dict[str, int]]] = {}
    for delta in deltas:
        for d in delta.days:
            sums = counters.setdefault(d.day, {})
            for name, value in d.counters.items():
                sums[name] = sums.get(name, 0.0) + value
            by_sla = sla.setdefault(d.day, {})
            for s in d.sla:
                counts = by_sla.setdefault(s.sla, dict.fromkeys(_SLA_OUTCOMES, 0))
                for o in _SLA_OUTCOMES:
                    counts[o] += getattr(s, o)
            by_cat = categories.setdefault(d.day, {})
            for c in d.categories:
                cell = by_cat.setdefault((c.category, c.nature, c.channel), {"received": 0, "closed": 0})
                cell["received"] += c.received
                cell["closed"] += c.closed
    out: list[DayCounts] = []
    for day in sorted(counters):
        values = {n: (v if n in FLOAT_COUNTERS else float(round(v))) for n, v in counters[day].items() if v}
        outcomes = [SlaCounts(sla=name, **o) for name, o in sorted(sla[day].items()) if any(o.values())]
        cells = [
            CategoryCounts(category=k[0], nature=k[1], channel=k[2], **cell)
            for k, cell in sorted(categories[day].items())
            if any(cell.values())
        ]
        out.append(DayCounts(day=day, counters=values, sla=outcomes, categories=cells))
    return out


def merge(deltas: Sequence[BranchKpisDelta]) -> BranchKpisDelta:
    """One branch's deltas, in the order they were folded, as one delta."""
    if not deltas:
        raise ValueError("nothing to merge")
    if len(deltas) == 1:
        return deltas[0]
    first = deltas[0]
    received_at: datetime | None = None
    slots: dict[tuple[str, datetime], int] = {}
    opened: dict[tuple[str, str], OpenBreach] = {}
    closed: dict[tuple[str, str], ClosedBreach] = {}
    for delta in deltas:
        if delta.branch_id != first.branch_id:
            raise ValueError("deltas of two branches")
        received_at = _latest(received_at, delta.complaints_received_at)
        for s in delta.crisis_slots:
            slots[(s.category, s.slot)] = slots.get((s.category, s.slot), 0) + s.complaints
        # closes first: a batch that closed and re-opened a breach lists it in both
        for c in delta.breaches_closed:
            key = (c.subject_id, c.sla)
            if opened.pop(key, None) is None:  # opened in this window: the two cancel out
                closed[key] = c
        for o in delta.breaches_opened:
            opened[(o.subject_id, o.sla)] = o
    return BranchKpisDelta(
        branch_id=first.branch_id,
        first_event_at=min(d.first_event_at for d in deltas),
        last_event_at=max(d.last_event_at for d in deltas),
        days=_days(deltas),
        complaints_received=sum(d.complaints_received for d in deltas),
        complaints_received_at=received_at,
        crisis_slots=[
            SlotCount(category=cat, slot=slot, complaints=n) for (cat, slot), n in sorted(slots.items()) if n
        ],
        breaches_opened=[opened[k] for k in sorted(opened)],
        breaches_closed=[closed[k] for k in sorted(closed)],
    )
