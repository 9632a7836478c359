"""Prometheus metrics of the reception service.

Labels are bounded: ``line`` comes from the catalogue (at most 16), never a branch, visit or
customer. SLA breaches use the shared ``branchcare_sla_breaches_total{service,sla}`` family.
Per-branch detail lives in the read models (lobby board, statistics), not in labels.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WAIT_SECONDS = Histogram(
    "branchcare_reception_wait_seconds",
    "Time from taking a ticket to the first call to a counter, per service line",
    ["line"],
    buckets=(60, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400),
)
QUEUE_LENGTH = Gauge(
    "branchcare_reception_queue_length",
    "Customers holding a ticket and not yet called, per service line (all branches of this database)",
    ["line"],
)
VISITS_ENDED = Counter(
    "branchcare_reception_visits_ended_total",
    "Visits that ended, by reason (served, abandoned, no_show, before_queue, did_not_return)",
    ["reason"],
)
CALLS_ANSWERED = Counter(
    "branchcare_reception_calls_answered_total",
    "Phone calls answered, by whether they were answered within the ring target",
    ["within_target"],
)
CALLS_MISSED = Counter(
    "branchcare_reception_calls_missed_total", "Phone calls that ended before anyone answered"
)
CALLS_WITHIN_TARGET_RATIO = Gauge(
    "branchcare_reception_calls_answered_within_target_ratio",
    "Share of the phone calls answered in the last 24 hours that were answered within the ring target",
)
OPEN_COUNTERS = Gauge(
    "branchcare_reception_open_counters",
    "Counters open (not paused, not closed) that serve the line, active in the last 24 hours "
    "(all branches of this database)",
    ["line"],
)
