"""HQ's Prometheus metrics. Labels stay bounded: region (from configuration), alert kind,
complaint category (an enumeration) — never a branch, customer or case.

Per-branch detail lives in the read model (GET /hq/branches); Prometheus gets region-level
series and a count of branches currently breaching.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRESHNESS = Histogram(
    "branchcare_hq_freshness_seconds",
    "From an event's recording in its service to HQ's read model showing it (live, not rebuilds)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
BATCH_SECONDS = Histogram(
    "branchcare_hq_batch_seconds",
    "Time to apply one batch of records to HQ's read model",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_RECORDS = Histogram(
    "branchcare_hq_batch_records",
    "Records per batch applied to HQ's read model",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
REGION_EVENTS = Counter(
    "branchcare_hq_region_events_total", "Branch events applied to HQ's read model, by region", ["region"]
)
ALERTS_RAISED = Counter(
    "branchcare_hq_alerts_raised_total",
    "Cross-branch alerts published (kind: spike = CrisisSuspected, repeat_complainant)",
    ["kind", "category"],
)
BRANCHES_BREACHING = Gauge(
    "branchcare_hq_branches_breaching",
    "Branches with at least one breached deadline whose subject is not done yet",
)
REGION_BRANCHES_BREACHING = Gauge(
    "branchcare_hq_region_branches_breaching",
    "Branches of the region with a breached deadline still open",
    ["region"],
)
REGION_BRANCHES_ACTIVE = Gauge(
    "branchcare_hq_region_branches_active", "Branches of the region with events today", ["region"]
)
REGION_VISITS = Gauge("branchcare_hq_region_visits_today", "Visits today in the region", ["region"])
REGION_COMPLAINTS = Gauge(
    "branchcare_hq_region_complaints_today", "Complaints received today in the region", ["region"]
)
REGION_WAIT_P90 = Gauge(
    "branchcare_hq_region_wait_p90_seconds", "90th percentile lobby wait today in the region", ["region"]
)
REGION_SATISFACTION = Gauge(
    "branchcare_hq_region_satisfaction_ratio", "Share of survey answers scoring 4-5 today", ["region"]
)
REGION_SLA_COMPLIANCE = Gauge(
    "branchcare_hq_region_sla_compliance_ratio", "Deadlines met / (met + breached) today", ["region"]
)
REGION_FOLLOWUPS_OVERDUE = Gauge(
    "branchcare_hq_region_followups_overdue", "Follow-up tasks overdue and not done now", ["region"]
)
GENERATION = Gauge(
    "branchcare_hq_read_model_generation", "Generation of HQ's read model (bumped by a rebuild)"
)
REBUILDING = Gauge("branchcare_hq_rebuilding", "1 while HQ's read model is catching up after a rebuild")
