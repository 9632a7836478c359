"""Infrastructure processes for local development and tests: Tansu broker, embedded PostgreSQL.

Used by the dev runner (``python -m services``) and by the test fixtures. Nothing here knows
about any service. Both servers run as real processes spoken to over TCP, never as fakes.
"""

from __future__ import annotations

from shared.devstack.http import wait_http_ok
from shared.devstack.kafka import TansuBroker, create_topics, kafka_answers
from shared.devstack.ports import die_with_parent, free_port, port_is_free
from shared.devstack.postgres import (
    EmbeddedPostgres,
    drop_database,
    ensure_database,
    start_embedded_postgres,
    with_database,
)

__all__ = [
    "EmbeddedPostgres",
    "TansuBroker",
    "create_topics",
    "die_with_parent",
    "drop_database",
    "ensure_database",
    "free_port",
    "kafka_answers",
    "port_is_free",
    "start_embedded_postgres",
    "wait_http_ok",
    "with_database",
]
