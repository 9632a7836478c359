"""The complaint service's own Prometheus metrics (SLA breaches and at-risk come from shared/sla).

Labels stay bounded: status, level, trigger — never a complaint, customer or branch id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TIME_TO_ACKNOWLEDGE = Histogram(
    "branchcare_complaint_time_to_acknowledge_seconds",
    "From receipt (or reopen) to the acknowledgement with apology",
    buckets=(60, 300, 600, 900, 1200, 1500, 1800, 2700, 3600, 7200, 14400, 86400),
)
TIME_TO_RESOLVE = Histogram(
    "branchcare_complaint_time_to_resolve_seconds",
    "From receipt (or reopen) to the first solution implemented, or the answer if none was needed",
    buckets=(
        1800, 3600, 4 * 3600, 8 * 3600, 12 * 3600, 24 * 3600, 48 * 3600,
        3 * 86400, 7 * 86400, 15 * 86400, 30 * 86400, 60 * 86400,
    ),
)  # fmt: skip
COMPLAINTS_BY_STATUS = Gauge(
    "branchcare_complaints_by_status",
    "Complaint cases by status (refreshed from the board; every replica reports the same, use max)",
    ["status"],
)
COMPLAINTS_ON_HOLD = Gauge("branchcare_complaints_on_hold", "Open cases waiting on the customer")
ESCALATIONS = Counter(
    "branchcare_complaint_escalations_total",
    "Complaint escalations, by the level reached and what triggered them",
    ["to_level", "trigger"],
)
