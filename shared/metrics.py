"""Prometheus metrics of the shared mechanism.

Labels stay bounded: service, projection, topic, SLA name — never a branch, case or customer.
Defined once per process; several services in one process (tests) share them by label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPENDED = Counter(
    "branchcare_events_appended_total", "Events appended to the service's event store", ["service"]
)
APPEND_SECONDS = Histogram(
    "branchcare_append_seconds",
    "Time to append one command's events",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0),
)
COMMAND_CONFLICTS = Counter(
    "branchcare_command_conflicts_total",
    "Commands that met a concurrent change of their stream",
    ["service", "outcome"],
)
RELAY_PUBLISHED = Counter(
    "branchcare_relay_published_total", "Events the outbox relay got acknowledged by Kafka", ["service"]
)
RELAY_ERRORS = Counter(
    "branchcare_relay_errors_total", "Relay rounds that failed and will be retried", ["service"]
)
RELAY_BROKER_LOSSES = Counter(
    "branchcare_relay_broker_losses_total",
    "Times the relay found that the broker lost records it had acknowledged (and republished them)",
    ["service"],
)
RELAY_REPUBLISHED = Counter(
    "branchcare_relay_republished_events_total",
    "Events the relay published again from the store: after a broker loss or an operator's request",
    ["service"],
)
OUTBOX_BACKLOG = Gauge(
    "branchcare_outbox_backlog_events", "Stored events not yet acknowledged by Kafka", ["service"]
)
OUTBOX_HELD_BACK = Gauge(
    "branchcare_outbox_held_back_seconds",
    "How long the relay has been waiting for an older in-flight transaction that can still append "
    "to this store (0: not held back); the relay's log names the blocking backend",
    ["service"],
)
PROJECTION_EVENTS = Counter(
    "branchcare_projection_events_total",
    "Events seen by projections, by outcome (applied, duplicate, out_of_order, dead_lettered)",
    ["service", "projection", "outcome"],
)
PROJECTION_LAG = Gauge(
    "branchcare_projection_lag_seconds",
    "Seconds between an event's recording and its projection, for the latest batch",
    ["service", "projection"],
)
CONSUMER_LAG = Gauge(
    "branchcare_consumer_lag_records",
    "Records on the broker a consumer group has not yet taken, per assigned partition (the "
    "partition's high watermark at the last fetch minus the consumer's position); refreshed about "
    "once a second while consuming and when the consumer goes idle",
    ["service", "group", "topic", "partition"],
)
PROJECTION_GAP = Gauge(
    "branchcare_projection_gap_seconds",
    "Seconds a projection has been waiting for a missing stream version (0: no gap); its Kafka "
    "offset is not committed past the gap meanwhile",
    ["service", "projection"],
)
DEAD_LETTERS = Counter(
    "branchcare_dead_letters_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)
SLA_BREACHES = Counter(
    "branchcare_sla_breaches_total", "Service-level deadlines breached", ["service", "sla"]
)
SLA_MET = Counter("branchcare_sla_met_total", "Service-level deadlines met on time", ["service", "sla"])
SLA_AT_RISK = Gauge(
    "branchcare_sla_at_risk", "Deadlines currently at risk (most of their time used)", ["service", "sla"]
)
