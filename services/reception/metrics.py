"""Prometheus metrics of the reception service.

Labels are bounded: ``line`` comes from the catalogue (at most 16), never a branch, visit or
customer. SLA breaches use the shared ``branchcare_sla_breaches_total{service,sla}`` family.
Per-branch detail lives in the read models (lobby board, statistics), not in labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram

from shared.contracts.reception import (
    CallAnswered,
    CallEnded,
    CallOutcome,
    LeftReason,
    VisitCalled,
    VisitLeft,
)
from shared.contracts.sla import SlaBreached
from shared.envelope import Envelope
from shared.metrics import SLA_BREACHES

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


def touch_metrics(lines: Iterable[str]) -> None:
    """Create every label set at 0, so the first increment is visible to ``rate()``."""
    for line in lines:
        WAIT_SECONDS.labels(line)
        QUEUE_LENGTH.labels(line)
        OPEN_COUNTERS.labels(line)
    for reason in LeftReason:
        VISITS_ENDED.labels(reason.value)
    for within in ("true", "false"):
        CALLS_ANSWERED.labels(within)


def observe(envelopes: Sequence[Envelope]) -> None:
    """Count committed events (called after the command's transaction)."""
    for env in envelopes:
        data = env.data
        if env.type == VisitCalled.event_type and data["call_number"] == 1:
            WAIT_SECONDS.labels(data["line"]).observe(float(data["waited_seconds"]))
        elif env.type == VisitLeft.event_type:
            VISITS_ENDED.labels(data.get("reason") or "unknown").inc()
        elif env.type == CallAnswered.event_type:
            CALLS_ANSWERED.labels("true" if data["within_target"] else "false").inc()
        elif env.type == CallEnded.event_type and data["outcome"] == CallOutcome.missed:
            CALLS_MISSED.inc()
        elif env.type == SlaBreached.event_type:  # a call answered after too many rings
            SLA_BREACHES.labels("reception", data["sla"]).inc()
