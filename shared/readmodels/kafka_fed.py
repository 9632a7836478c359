"""Read models fed from Kafka, rebuilt by replaying their topics through their pure table writers.

Decision (issues 14/18): the service's consumer group is left alone. A Kafka-fed read model shares
its consumer group with reactions that append events and trigger side effects (a complaint case
opened for a visit, a survey requested and then sent by SMS); rewinding the group would run every
reaction again. Instead the command, in one transaction:

1. locks the read model's tables ``EXCLUSIVE`` (the service's consumer waits; readers do not);
2. reads the topics from their earliest retained offset to their end *now* (after the lock, so
   every event the consumer already applied is in the range);
3. empties the tables and applies only the handlers that write them (``ON CONFLICT`` upserts and
   deletes, the very functions the consumer calls), in the order the events were recorded;
4. compares row counts and checksums before and after, and commits.

Events after the end read are applied by the consumer once the lock is released (its writers are
idempotent, so an event applied by both changes nothing). The consumer's checkpoints are not
touched, and no reaction runs: nothing is sent, no event is appended. Needs the topics' full
history: a topic whose retention dropped early records cannot give them back (the relay's
``branchcare relay republish`` refills a topic from the store first).

The restore drill applies the same writers to the events of the restored *stores* the topics copy
(:mod:`shared.backup.replayed`). Some read models only the drill rebuilds (``live=False``): on a
running system they are working state (follow-up's complaints), go with their output (hqfeed's
state) or are rebuilt by a new consumer generation (HQ); in a scratch copy nothing runs beside them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from shared.backup.tables import quote_ident
from shared.envelope import Envelope
from shared.readmodels.live import TableChange, _stat
from shared.readmodels.store_fed import Rebuilder
from shared.registry import REGISTRY, UnknownEventType
from shared.topic_scan import records_to_end

Write = Callable[[asyncpg.Connection, Envelope, object], Awaitable[None]]


@dataclass(frozen=True)
class Replay:
    schema: str
    name: str
    tables: tuple[str, ...]
    topics: tuple[str, ...]
    #: event type → the pure writer the service's consumer calls for it
    writers: Callable[[], dict[str, Write]]
    #: False: ``branchcare rebuild`` refuses it on a live database (``catalogue.py`` says why); the
    #: restore drill still rebuilds it in its scratch copy, where nothing runs beside it
    live: bool = True

    @property
    def sources(self) -> tuple[str, ...]:
        """The contexts whose event stores hold what the topics carry (``reception.events.v1`` →
        ``reception``): the restore drill reads those stores instead of the topics."""
        return tuple(topic.split(".", 1)[0] for topic in self.topics)


@dataclass
class ReplayResult:
    changes: list[TableChange]
    read: int
    applied: int
    undecodable: int


async def read_topics(bootstrap_servers: str, topics: Sequence[str]) -> tuple[list[Envelope], int]:
    """Every envelope now on ``topics`` (earliest to the end offsets read on entry), in recorded
    order; and how many records could not be decoded (the consumer dead-lettered them)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    out: list[Envelope] = []
    bad = 0
    try:
        await consumer.topics()
        async for r in records_to_end(consumer, topics):
            try:
                out.append(REGISTRY.upcast(Envelope.model_validate_json(r.value or b"")))
            except (ValidationError, UnknownEventType):
                bad += 1
    finally:
        await consumer.stop()
    out.sort(key=recorded_order)
    return out, bad


async def replay_live(
    conn: asyncpg.Connection, replay: Replay, bootstrap_servers: str, *, lock_timeout_s: float = 10.0
) -> ReplayResult:
    """Lock, read the topics, empty and refill ``replay``'s tables: one transaction."""
    writers = replay.writers()
    as_rebuilder = Rebuilder(replay.schema, replay.tables, _never)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        await conn.execute(f"SET LOCAL search_path = {quote_ident(replay.schema)}")
        await conn.execute(f"LOCK TABLE {', '.join(quote_ident(t) for t in replay.tables)} IN EXCLUSIVE MODE")
        before = [await _stat(conn, as_rebuilder, t) for t in replay.tables]
        envelopes, bad = await read_topics(bootstrap_servers, replay.topics)
        for table in replay.tables:
            await conn.execute(f"DELETE FROM {quote_ident(table)}")
        applied = await apply_envelopes(conn, writers, envelopes)
        after = [await _stat(conn, as_rebuilder, t) for t in replay.tables]
    changes = [TableChange(b, a) for b, a in zip(before, after, strict=True)]
    return ReplayResult(changes, len(envelopes), applied, bad)


def recorded_order(env: Envelope) -> tuple[object, ...]:
    """The order a replay applies events in, whether read from topics or from restored stores."""
    return (env.recorded_at, env.stream_id, env.stream_version)


async def apply_envelopes(
    conn: asyncpg.Connection, writers: dict[str, Write], envelopes: list[Envelope]
) -> int:
    """Apply ``envelopes`` (already in :func:`recorded_order`) through the writers; how many had one."""
    applied = 0
    for env in envelopes:
        write = writers.get(env.type)
        if write is not None:
            await write(conn, env, REGISTRY.decode(env))
            applied += 1
    return applied


async def _never(conn: asyncpg.Connection) -> None:  # pragma: no cover - stats only
    raise NotImplementedError


def _complaint_departures() -> dict[str, Write]:
    from services.complaint.projections import record_departure
    from shared.contracts.reception import VisitLeft

    async def left(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, VisitLeft)
        await record_departure(conn, data.visit_id, env.branch_id, data.at)

    return {VisitLeft.event_type: left}


def _aliases() -> dict[str, Write]:
    from shared import customer_aliases
    from shared.contracts.customers import CustomerMergeReversed, CustomersMerged

    async def fact(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, CustomersMerged | CustomerMergeReversed)
        await customer_aliases.record_event(conn, data)

    return {CustomersMerged.event_type: fact, CustomerMergeReversed.event_type: fact}


def _followup_complaints() -> dict[str, Write]:
    """The table writes of follow-up's task rules (``services/followup/complaint_rows.py``) without
    the rules: a complaint's status, complainant and hold."""
    from services.followup import complaint_rows as rows
    from shared.contracts.complaint import (
        ComplaintClosed,
        ComplaintPutOnHold,
        ComplaintReceived,
        ComplaintReopened,
        ComplaintResumed,
    )

    async def received(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintReceived)
        await rows.set_complaint(conn, env, data.complaint_id, "open", data.customer_ref)

    async def reopened(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintReopened)
        await rows.set_complaint(conn, env, data.complaint_id, "open")

    async def closed(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintClosed)
        await rows.set_complaint(conn, env, data.complaint_id, "closed")
        await rows.set_hold(conn, data.complaint_id, None)

    async def on_hold(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintPutOnHold)
        await rows.set_hold(conn, data.complaint_id, data.kind)

    async def resumed(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintResumed)
        await rows.set_hold(conn, data.complaint_id, None)

    return {
        ComplaintReceived.event_type: received,
        ComplaintReopened.event_type: reopened,
        ComplaintClosed.event_type: closed,
        ComplaintPutOnHold.event_type: on_hold,
        ComplaintResumed.event_type: resumed,
    }


def _complaint_customers() -> dict[str, Write]:
    from shared.contracts.complaint import ComplaintReceived

    async def received(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        assert isinstance(data, ComplaintReceived)  # as services/feedback/subscribers.py
        await conn.execute(
            """INSERT INTO complaint_customers (complaint_id, branch_id, customer_ref) VALUES ($1, $2, $3)
               ON CONFLICT (complaint_id) DO NOTHING""",
            data.complaint_id,
            env.branch_id,
            data.customer_ref,
        )

    return {ComplaintReceived.event_type: received}


def _hqfeed_state() -> dict[str, Write]:
    """The aggregator's state (``services/hqfeed``) folded from the domain events without its output,
    and each contract stream's version from the aggregator's own store (what it appended)."""
    from functools import lru_cache

    from services.hqfeed.fold import FOLDED
    from services.hqfeed.projection import HqFeed
    from shared.clock import SystemClock
    from shared.contracts import hqfeed as contract
    from shared.sla.policy import PolicyBook

    book = PolicyBook.load()
    tz_of = lru_cache(maxsize=100_000)(lambda branch_id: book.calendar(branch_id).tz)
    feed = HqFeed(store=None, tz_of=tz_of, clock=SystemClock())  # type: ignore[arg-type]  # never appends

    async def fold(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        await feed.fold_state(conn, [env])

    async def appended(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        await conn.execute(
            """INSERT INTO feed_streams (stream_id, version) VALUES ($1, $2)
               ON CONFLICT (stream_id) DO UPDATE
                   SET version = greatest(feed_streams.version, EXCLUDED.version)""",
            env.stream_id,
            env.stream_version,
        )

    writers: dict[str, Write] = dict.fromkeys(FOLDED, fold)
    outputs = (
        contract.BranchKpisDelta, contract.ComplaintFactsUpdated, contract.RemediationActionUpdated,
        contract.CustomerRefsMerged, contract.CustomerRefsMergeReversed,
    )  # fmt: skip
    writers.update(dict.fromkeys((e.event_type for e in outputs), appended))
    return writers


def _hq_tables() -> dict[str, Write]:
    """HQ's read model from the contract through its own projection, alerts included (derived from
    the tables); with no store it publishes nothing."""
    from services.hq.config import HqConfig
    from services.hq.projections import BranchKpis
    from services.hq.regions import Regions
    from shared.clock import SystemClock
    from shared.contracts import hqfeed as contract

    config = HqConfig()
    kpis = BranchKpis(
        config=config, regions=Regions.load(config.regions_file), store=None, clock=SystemClock()
    )

    async def write(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
        await kpis.apply(conn, [env])

    inputs = (
        contract.BranchKpisDelta, contract.ComplaintFactsUpdated, contract.RemediationActionUpdated,
        contract.CustomerRefsMerged, contract.CustomerRefsMergeReversed,
    )  # fmt: skip
    return dict.fromkeys((e.event_type for e in inputs), write)


DOMAIN_TOPICS = tuple(f"{c}.events.v1" for c in ("reception", "complaint", "followup", "feedback"))


def replays() -> list[Replay]:
    """Every Kafka-fed read model a replay rebuilds (without its consumer's reactions)."""
    from services.hq.projections.tables import READ_MODEL_TABLES
    from shared.customer_aliases import TABLES as ALIASES

    reception, complaint = ("reception.events.v1",), ("complaint.events.v1",)
    return [
        Replay("complaint", "departures", ("visit_departures",), reception, _complaint_departures),
        Replay("complaint", "customer_aliases", ALIASES, reception, _aliases),
        Replay("followup", "customer_aliases", ALIASES, reception, _aliases),
        Replay("followup", "complaints", ("complaints",), complaint, _followup_complaints, live=False),
        Replay("feedback", "customer_aliases", ALIASES, reception, _aliases),
        Replay("feedback", "complaint_customers", ("complaint_customers",), complaint, _complaint_customers),
        # drill-only: live, the aggregator's state goes with its output, and HQ rebuilds by generation
        Replay(
            "hqfeed",
            "state",
            ("feed_streams", "complaints", "open_breaches"),
            (*DOMAIN_TOPICS, "hqfeed.events.v1"),
            _hqfeed_state,
            live=False,
        ),
        Replay("hq", "branch_kpis", READ_MODEL_TABLES, ("hqfeed.events.v1",), _hq_tables, live=False),
    ]
