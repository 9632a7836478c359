"""The fixed shape of the system: bounded contexts, their topics and default HTTP ports.

One place for names every service and the dev runner must agree on.
"""

from __future__ import annotations

import re

#: ``hqfeed`` is the branch side's aggregator: it publishes headquarters' contract, the only topic HQ reads
CONTEXTS: tuple[str, ...] = ("reception", "complaint", "followup", "feedback", "hqfeed", "hq")

DEFAULT_PORTS: dict[str, int] = {
    "reception": 8001,
    "complaint": 8002,
    "followup": 8003,
    "feedback": 8004,
    "hq": 8005,
    "hqfeed": 8006,
}


def port_env_var(name: str) -> str:
    """The environment variable that moves a service's HTTP port: ``reception`` → ``RECEPTION_PORT``
    (the dev runner and the simulator read the same names)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_PORT"


#: Partitions per events topic. Keyed by branch_id, so a branch's events stay ordered.
DEFAULT_PARTITIONS = 6


def events_topic(context: str) -> str:
    """The topic a context publishes its events to, e.g. ``complaint.events.v1``."""
    return f"{context}.events.v1"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic for messages of ``topic`` that cannot be processed."""
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    """Every events topic and its dead-letter topic, for topic creation."""
    topics: list[str] = []
    for context in CONTEXTS:
        topics += [events_topic(context), dlq_topic(events_topic(context))]
    return topics
