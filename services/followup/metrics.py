"""Follow-up metrics. Labels: task kind only (six values) — never a branch, task or customer.

SLA breaches of tasks are also counted by the shared scheduler in
``branchcare_sla_breaches_total{service="followup", sla=...}``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.contracts.followup import TaskKind
from shared.metrics import SLA_BREACHES

TASKS_DUE = Gauge(
    "branchcare_followup_tasks_due",
    "Open follow-up tasks due within the next 24 hours and not yet overdue",
    ["kind"],
)
TASKS_OVERDUE = Gauge(
    "branchcare_followup_tasks_overdue", "Open follow-up tasks past their due time", ["kind"]
)
TASKS_SCHEDULED = Counter("branchcare_followup_tasks_scheduled_total", "Follow-up tasks created", ["kind"])
TASKS_CLOSED = Counter(
    "branchcare_followup_tasks_closed_total",
    "Follow-up tasks closed, by outcome (completed, cancelled, verification_failed)",
    ["kind", "outcome"],
)
COMPLETION_SECONDS = Histogram(
    "branchcare_followup_completion_seconds",
    "Time from scheduling a follow-up task to completing it",
    ["kind"],
    buckets=(600, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 7 * 86400, 30 * 86400),
)
TASK_BREACHES = Counter(
    "branchcare_followup_breaches_total", "Follow-up tasks that passed their due time open", ["kind"]
)


def precreate() -> None:
    """Create every label set at 0, so rate()/increase() see the first increment (deploy/ rules)."""
    for kind in TaskKind:
        TASKS_DUE.labels(kind.value)
        TASKS_OVERDUE.labels(kind.value)
        TASKS_SCHEDULED.labels(kind.value)
        TASK_BREACHES.labels(kind.value)
        COMPLETION_SECONDS.labels(kind.value)
        for outcome in ("completed", "cancelled", "verification_failed"):
            TASKS_CLOSED.labels(kind.value, outcome)
    for sla in ("followup.due", "followup.verification"):
        SLA_BREACHES.labels("followup", sla)
