"""The topics' shape (``deploy/kafka/topics.md``) and their idempotent creation by the services.

A topic that vanished (a broker restarted empty, a topic deleted by mistake) must come back with
the partition count and settings it had, never as whatever a broker invents: a Kafka client asks
for automatic topic creation in every metadata request, and a broker that honours it (the
embedded Tansu broker always does; Kafka with ``auto.create.topics.enable=true``) then creates the
topic with its own defaults (Tansu: 4 partitions) — and acknowledges produce requests into it.
:func:`disable_auto_topic_creation` turns that request off for every aiokafka client of the
process (imported by the relay, so by every service), so a produce to a missing topic fails with
``UnknownTopicOrPartitionError`` and the relay re-creates the topic itself (:func:`ensure_topics`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiokafka.admin.client
import aiokafka.client
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.metadata import MetadataRequest

from shared.topology import CONTEXTS, events_topic

_TOPIC_ALREADY_EXISTS = 36

#: production partition counts of ``deploy/kafka/topics.md`` (per context; ``.dlq`` topics: 3)
PRODUCTION_PARTITIONS: dict[str, int] = {
    "reception": 48,
    "complaint": 24,
    "followup": 24,
    "feedback": 24,
    "hqfeed": 24,
    "hq": 12,
}
DLQ_PARTITIONS = 3

_EVENTS_CONFIG = {
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
    "unclean.leader.election.enable": "false",
    "max.message.bytes": "1048576",
}
_DLQ_CONFIG = {"retention.ms": "7776000000", "unclean.leader.election.enable": "false"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_spec(name: str, partitions: int | None = None) -> TopicSpec:
    """The settings of ``deploy/kafka/topics.md`` for ``name``; ``partitions`` overrides the count."""
    is_dlq = name.endswith(".dlq")
    base = name.removesuffix(".dlq")
    default = DLQ_PARTITIONS if is_dlq else 6
    for context in CONTEXTS:
        if base == events_topic(context) and not is_dlq:
            default = PRODUCTION_PARTITIONS.get(context, default)
    return TopicSpec(name, partitions or default, dict(_DLQ_CONFIG if is_dlq else _EVENTS_CONFIG))


class _NoAutoCreateMetadataRequest(MetadataRequest):
    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False):
        super().__init__(topics, allow_auto_topic_creation)


def disable_auto_topic_creation() -> None:
    """Make every aiokafka client of this process ask for metadata without creating topics."""
    aiokafka.client.MetadataRequest = _NoAutoCreateMetadataRequest  # type: ignore[misc]
    aiokafka.admin.client.MetadataRequest = _NoAutoCreateMetadataRequest  # type: ignore[misc]


disable_auto_topic_creation()


async def topic_partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """How many partitions each existing topic of ``names`` has (missing ones are left out)."""
    described = await admin.describe_topics(names)
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0 and t["partitions"]}


async def create_topics(admin: AIOKafkaAdminClient, new: list[NewTopic]) -> None:
    """Create ``new``; a topic that exists already (created meanwhile) is no error, any other
    refusal is a :class:`RuntimeError` naming each topic and its error."""
    response = await admin.create_topics(new)
    failures = [
        f"{name}: error {code} {message or ''}".strip()
        for name, code, message, *_ in response.topic_errors
        if code not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise RuntimeError("could not create topics: " + "; ".join(failures))


async def ensure_topics(
    bootstrap_servers: str,
    specs: list[TopicSpec],
    *,
    timeout: float = 15.0,
    admin: AIOKafkaAdminClient | None = None,
) -> dict[str, int]:
    """Create the topics of ``specs`` that are missing; returns every topic's partition count.

    Existing topics are left as they are (a partition count cannot be lowered, and raising it
    would move branches to other partitions). Replication is 3 where the cluster has 3 brokers,
    otherwise as many as it has (the single development broker), with ``min.insync.replicas`` 2
    (or 1). ``admin``: a started client of the caller's (kept open), else one of its own.
    """
    own = admin is None
    if admin is None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
        await admin.start()
    try:
        names = [s.name for s in specs]
        existing = await topic_partitions(admin, names)
        missing = [s for s in specs if s.name not in existing]
        if missing:
            brokers = len((await admin.describe_cluster())["brokers"]) or 1
            replication = min(3, brokers)
            new = [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=replication,
                    topic_configs={**s.config, "min.insync.replicas": str(min(2, replication))},
                )
                for s in missing
            ]
            await create_topics(admin, new)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (existing := await topic_partitions(admin, names)).keys() < set(names):
                if loop.time() > deadline:
                    missing_now = sorted(set(names) - existing.keys())
                    raise TimeoutError(f"topics not visible after creation: {missing_now}")
                await asyncio.sleep(0.1)
        return existing
    finally:
        if own:
            await admin.close()
