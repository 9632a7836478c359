"""The SLA event a fired reception deadline records on its visit's or call's stream."""

from __future__ import annotations

from datetime import datetime

from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.sla.deadlines import Deadline
from shared.sla.scheduler import Kind


def fired_event(deadline: Deadline, kind: Kind, at: datetime) -> SlaAtRisk | SlaBreached:
    """``at_risk`` carries the share of time used at the milestone that fired; else a breach."""
    fields = deadline.event_fields()
    if kind == "at_risk":
        return SlaAtRisk(**fields, at=at, used_fraction=_fraction(deadline))
    return SlaBreached(**fields, at=at)


def _fraction(deadline: Deadline) -> float:
    """The share of time used at the milestone that just fired (``at_risk:0.5`` → 0.5)."""
    for name in reversed(deadline.fired):
        if name.startswith("at_risk:"):
            return min(max(float(name.split(":", 1)[1]), 0.0), 1.0)
    return 0.0
