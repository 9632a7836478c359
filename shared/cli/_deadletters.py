"""Reading dead-letter topics and sending a dead letter back to its source topic, once.

Dead letters are written by the projection runner (``shared/projection.py``): the record as it came,
on ``<topic>.dlq``, with headers ``x-dlq-reason``, ``x-original-topic``, ``x-original-partition``,
``x-original-offset`` and ``x-consumer`` (the consumer group, ``<service>.<projection>``).

Reading uses a consumer without a group (nothing is committed, no consumer is disturbed) from the
start of each partition to the end it had when the read began.

A redrive publishes the record's key and value unchanged to the source topic with the
``event-type`` / ``content-type`` headers a relay sets plus ``x-redriven-from`` (the dead
letter's id) and ``x-redriven-for`` (the consumer group that dead-lettered it, which applies it
once although its stream moved past it: ``shared/redrive.py``). "Once" is a row in
``dlq_redrives`` of the consuming service's schema, inserted in a transaction that commits only
after the broker acknowledged the record: a second redrive of the same dead letter is refused,
and a crash between ack and commit can at worst send it twice (the consumer's ``applied_at``
claim still applies it once; other groups drop it by stream version). If the event fails again,
it comes back as a new dead letter (a new id) to be looked at afresh.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from shared.envelope import Envelope
from shared.redrive import LOCK_SQL, REDRIVEN_FOR, REDRIVEN_FROM
from shared.topic_scan import records_to_end
from shared.topology import all_topics

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def source_topic(self) -> str:
        return self.headers.get("x-original-topic") or self.topic.removesuffix(DLQ_SUFFIX)

    @property
    def reason(self) -> str:
        return self.headers.get("x-dlq-reason", "")

    @property
    def consumer(self) -> str:
        return self.headers.get("x-consumer", "")

    @property
    def ledger_schema(self) -> str:
        """The schema of the service whose consumer dead-lettered it (``hq.kpis`` → ``hq``)."""
        return (self.consumer or self.source_topic).split(".", 1)[0]

    def envelope(self) -> Envelope | None:
        try:
            return Envelope.model_validate_json(self.value)
        except ValidationError:
            return None

    def event_type(self) -> str:
        env = self.envelope()
        return env.type if env is not None else self.headers.get("event-type", "?")


def parse_id(text: str) -> tuple[str, int, int]:
    """``complaint.events.v1.dlq:2:17`` → (topic, partition, offset)."""
    topic, _, rest = text.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        return topic, int(partition), int(rest)
    except ValueError:
        raise ValueError(f"{text!r} is not a dead letter id (TOPIC:PARTITION:OFFSET)") from None


def dlq_topics(selected: Sequence[str] = ()) -> list[str]:
    """The dead-letter topics to read: every system DLQ, or those of ``selected`` (a DLQ topic, a
    source topic, or a context name such as ``complaint``)."""
    if not selected:
        return [t for t in all_topics() if t.endswith(DLQ_SUFFIX)]
    topics = []
    for name in selected:
        if name.endswith(DLQ_SUFFIX):
            topics.append(name)
        elif "." in name:
            topics.append(name + DLQ_SUFFIX)
        else:
            topics.append(f"{name}.events.v1{DLQ_SUFFIX}")
    return list(dict.fromkeys(topics))


async def read_dead_letters(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[DeadLetter]:
    """Every record now on ``topics``, oldest first per partition.

    ``strict``: a topic the broker does not have is an error (the operator named it) rather than
    nothing to read. ``progress(done, total)`` is called as records arrive. Gives up when the
    broker sends nothing for :data:`~shared.topic_scan.IDLE_SECONDS`.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        await consumer.topics()
        missing = [t for t in topics if not consumer.partitions_for_topic(t)]
        if strict and missing:
            raise LookupError(f"no topic {', '.join(missing)} on {bootstrap_servers}")
        return [_letter(r) async for r in records_to_end(consumer, topics, progress=progress)]
    finally:
        await consumer.stop()


def _letter(record: Any) -> DeadLetter:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}
    return DeadLetter(
        record.topic,
        record.partition,
        record.offset,
        datetime.fromtimestamp(record.timestamp / 1000, UTC),
        record.key,
        record.value or b"",
        headers,
    )


async def redriven(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> dict[str, datetime]:
    """Which of ``letters`` were redriven already, and when."""
    done: dict[str, datetime] = {}
    for schema in sorted({x.ledger_schema for x in letters}):
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".dlq_redrives'):
            continue
        rows = await conn.fetch(
            f'SELECT dlq_topic, dlq_partition, dlq_offset, redriven_at FROM "{schema}".dlq_redrives'
        )
        done.update(
            {f"{r['dlq_topic']}:{r['dlq_partition']}:{r['dlq_offset']}": r["redriven_at"] for r in rows}
        )
    return done


class AlreadyRedriven(Exception):
    pass


async def redrive(conn: asyncpg.Connection, producer: AIOKafkaProducer, letter: DeadLetter) -> None:
    """Send ``letter`` back to its source topic and record it; :class:`AlreadyRedriven` if it was."""
    schema = letter.ledger_schema
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".dlq_redrives'):
        raise LookupError(f"no table {schema}.dlq_redrives: has service {schema} started since its upgrade?")
    async with conn.transaction():
        await conn.execute(LOCK_SQL, letter.id)  # held until the row commits: shared/redrive.py
        claimed = await conn.fetchval(
            f"""INSERT INTO "{schema}".dlq_redrives
                    (dlq_topic, dlq_partition, dlq_offset, source_topic, consumer, event_type, reason,
                     redriven_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING true""",
            letter.topic,
            letter.partition,
            letter.offset,
            letter.source_topic,
            letter.consumer,
            letter.event_type(),
            letter.reason[:1000],
            _operator(),
        )
        if not claimed:
            raise AlreadyRedriven(letter.id)
        headers = [
            ("event-type", letter.event_type().encode()),
            ("content-type", b"application/json"),
            (REDRIVEN_FROM, letter.id.encode()),
            (REDRIVEN_FOR, letter.consumer.encode()),
        ]
        if "traceparent" in letter.headers:
            headers.append(("traceparent", letter.headers["traceparent"].encode()))
        await producer.send_and_wait(letter.source_topic, letter.value, key=letter.key, headers=headers)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
