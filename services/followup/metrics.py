"""Follow-up metrics. Labels: task kind only (six values) — never a branch, task or customer.

SLA breaches of tasks are also counted by the shared scheduler in
``branchcare_sla_breaches_total{service="followup", sla=...}``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from shared.contracts.followup import TaskKind
from shared.metrics import SLA_BREACHES

M = TypeVar("M", Counter, Gauge, Histogram)
OUTCOMES = ("completed", "cancelled", "verification_failed")


def _per_kind(metric: type[M], name: str, doc: str, *labels: str, **options: Any) -> M:
    """``branchcare_followup_<name>``, labelled by task kind first (the only label about a task)."""
    return metric(f"branchcare_followup_{name}", doc, ["kind", *labels], **options)


TASKS_DUE = _per_kind(
    Gauge, "tasks_due", "Open follow-up tasks due within the next 24 hours and not yet overdue"
)
TASKS_OVERDUE = _per_kind(Gauge, "tasks_overdue", "Open follow-up tasks past their due time")
TASKS_SCHEDULED = _per_kind(Counter, "tasks_scheduled_total", "Follow-up tasks created")
TASKS_CLOSED = _per_kind(
    Counter, "tasks_closed_total", f"Follow-up tasks closed, by outcome ({', '.join(OUTCOMES)})", "outcome"
)
COMPLETION_SECONDS = _per_kind(
    Histogram,
    "completion_seconds",
    "Time from scheduling a follow-up task to completing it",
    buckets=tuple(60 * minutes for minutes in (10, 30, 60, 240, 480, 1440, 2880, 4320, 10080, 43200)),
)
TASK_BREACHES = _per_kind(Counter, "breaches_total", "Follow-up tasks that passed their due time open")


def precreate() -> None:
    """Create every label set at 0, so rate()/increase() see the first increment (deploy/ rules)."""
    for kind in TaskKind:
        for metric in (TASKS_DUE, TASKS_OVERDUE, TASKS_SCHEDULED, TASK_BREACHES, COMPLETION_SECONDS):
            metric.labels(kind.value)
        for outcome in OUTCOMES:
            TASKS_CLOSED.labels(kind.value, outcome)
    for sla in ("followup.due", "followup.verification"):
        SLA_BREACHES.labels("followup", sla)
