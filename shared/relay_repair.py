"""The relay's record of what the broker acknowledged, and its repair when the broker lost it.

The relay keeps, with its checkpoint, the last acknowledged record of every partition
(:data:`~shared.relay_check.AckedTail`), and every few seconds a *mark*: a copy of (checkpoint,
acked tail). When a check finds that the broker lost records (a read-back that does not match, a
topic that is gone, a produce acknowledged at an offset below one acknowledged before), the
relay re-creates the topic if needed and moves its checkpoint back to the newest mark the broker
still holds — found by binary search, since Kafka loses a log's tail, never its middle — or to
the start of the store if it holds none; it then publishes again from there, in store order.
Consumers drop what they already applied (per stream version), so republishing more than was
lost costs duplicates, never correctness.

An operator can ask for the same from any store position (``branchcare relay republish``): the
request waits in ``relay_checkpoint.republish_from`` until the leading relay takes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from shared.eventstore import LOG_START, LogPosition
from shared.metrics import RELAY_BROKER_LOSSES, RELAY_REPUBLISHED
from shared.relay_check import AckedTail, BrokerCheck
from shared.topic_wakeups import channel_of

log = logging.getLogger(__name__)


@dataclass
class RelayState:
    """Everything up to ``position`` was acknowledged; ``acked`` is where it ended per partition."""

    position: LogPosition = LOG_START
    acked: AckedTail = field(default_factory=dict)


def acked_json(acked: AckedTail) -> str:
    return json.dumps({str(p): [o, e] for p, (o, e) in sorted(acked.items())})


def parse_acked(raw: str | None) -> AckedTail:
    data = json.loads(raw or "{}")
    return {int(p): (int(ref[0]), str(ref[1])) for p, ref in data.items()}


async def load_state(conn: asyncpg.Connection, topic: str) -> tuple[RelayState, int | None]:
    """The checkpoint, its acked tail and the topic's last seen partition count."""
    row = await conn.fetchrow(
        "SELECT tx_id, position, acked::text AS acked, partitions FROM relay_checkpoint WHERE topic = $1",
        topic,
    )
    if row is None:
        return RelayState(), None
    position = LogPosition(int(row["tx_id"]), int(row["position"]))
    return RelayState(position, parse_acked(row["acked"])), row["partitions"]


def checkpoint(
    topic: str, state: RelayState, *, announce: bool = False
) -> Callable[[int], tuple[str, Sequence[object]]]:
    """The checkpoint write as a ``WITH`` item (``saved``) for a statement of the relay's (its
    parameters numbered from the one given): records ``state`` and, with ``announce``, announces
    the topic (:mod:`shared.topic_wakeups`: idle consumers of a holding broker wake up), delivered
    when the statement commits. A data-modifying ``WITH`` item runs whether or not the statement reads it,
    so the relay writes it in the same statement as its next read of the log
    (:meth:`shared.eventstore.EventStore.read_all_after`'s ``also``)."""

    args: tuple[object, ...] = (topic, state.position.tx_id, state.position.position, acked_json(state.acked))
    if announce:
        args += (channel_of(topic),)

    def item(first: int) -> tuple[str, Sequence[object]]:
        t, x, p, a, c = (f"${first + i}" for i in range(5))
        sql = f"""saved AS (
               INSERT INTO relay_checkpoint (topic, tx_id, position, acked) VALUES ({t}, {x}, {p}, {a}::jsonb)
               ON CONFLICT (topic) DO UPDATE
               SET tx_id = {x}, position = {p}, acked = {a}::jsonb, updated_at = now()
               RETURNING {f"pg_notify({c}, topic)" if announce else "topic"})"""
        return sql, args

    return item


async def save(
    conn: asyncpg.Connection, topic: str, state: RelayState, *, mark: bool, announce: bool = True
) -> None:
    """Record the checkpoint (and, with ``mark``, a mark) after an acknowledged batch, and
    announce the topic, in a statement of its own (:func:`checkpoint`)."""
    sql, args = checkpoint(topic, state, announce=announce)(1)
    await conn.execute(f"WITH {sql} SELECT count(*) FROM saved", *args)
    if mark:
        await conn.execute(
            """INSERT INTO relay_marks (topic, tx_id, position, acked) VALUES ($1, $2, $3, $4::jsonb)
               ON CONFLICT DO NOTHING""",
            topic,
            state.position.tx_id,
            state.position.position,
            args[3],
        )


#: marks older than this are dropped (a loss older than every mark republishes from the start)
MARK_RETENTION = "7 days"


async def prune_marks(conn: asyncpg.Connection, topic: str) -> None:
    await conn.execute(
        f"DELETE FROM relay_marks WHERE topic = $1 AND created_at < now() - interval '{MARK_RETENTION}'",
        topic,
    )


async def record_verification(
    conn: asyncpg.Connection, topic: str, outcome: str, partitions: int | None = None
) -> None:
    await conn.execute(
        """INSERT INTO relay_checkpoint (topic, tx_id, position, verified_at, verification, partitions)
           VALUES ($1, '0', 0, now(), $2, $3)
           ON CONFLICT (topic) DO UPDATE SET verified_at = now(), verification = $2,
                  partitions = coalesce($3, relay_checkpoint.partitions)""",
        topic,
        outcome[:500],
        partitions,
    )


class Repairer:
    """Verifies the broker against the relay's record and rewinds the relay when it lost data."""

    def __init__(self, check: BrokerCheck, *, topic: str, service: str) -> None:
        self.check = check
        self.topic = topic
        self.service = service

    async def probe(self, acked: AckedTail) -> tuple[bool, int]:
        """Whether the broker holds ``acked`` (re-creating a missing topic first), and the topic's
        partition count. Kafka only, so it can run beside the relay's publishing; raises when the
        broker does not answer (no evidence either way)."""
        partitions = await self.check.ensure()  # its fresh count spares holds() another client
        return await self.check.holds(acked, partitions=partitions), partitions

    async def repair(self, conn: asyncpg.Connection, state: RelayState, reason: str) -> RelayState:
        """Rewind to the newest mark the broker still holds (or the store's start)."""
        partitions = await self.check.ensure()
        marks = await conn.fetch(
            """SELECT tx_id, position FROM relay_marks
               WHERE topic = $1 AND (tx_id, position) <= ($2::xid8, $3::bigint)
               ORDER BY tx_id, position""",
            self.topic,
            state.position.tx_id,
            state.position.position,
        )
        restart = RelayState()
        lo, hi = 0, len(marks)  # invariant: marks[:lo] are held, marks[hi:] are not
        while lo < hi:
            mid = (lo + hi) // 2
            candidate = await self._mark(conn, marks[mid])
            if await self.check.holds(candidate.acked, partitions=partitions):
                restart, lo = candidate, mid + 1
            else:
                hi = mid
        await conn.execute(
            "DELETE FROM relay_marks WHERE topic = $1 AND (tx_id, position) > ($2::xid8, $3::bigint)",
            self.topic,
            restart.position.tx_id,
            restart.position.position,
        )
        republished = await self._count_between(conn, restart.position, state.position)
        await conn.execute(
            """UPDATE relay_checkpoint SET tx_id = $2, position = $3, acked = $4::jsonb, updated_at = now(),
                      last_loss_at = now(), republished_events = republished_events + $5,
                      verified_at = now(), verification = $6
               WHERE topic = $1""",
            self.topic,
            restart.position.tx_id,
            restart.position.position,
            acked_json(restart.acked),
            republished,
            f"{reason}: republishing {republished} event(s) after position {restart.position.position}",
        )
        RELAY_BROKER_LOSSES.labels(self.service).inc()
        RELAY_REPUBLISHED.labels(self.service).inc(republished)
        log.error(
            "relay %s: %s; republishing %d event(s) from the store after %s (was at %s)",
            self.topic,
            reason,
            republished,
            restart.position,
            state.position,
        )
        return restart

    async def take_request(self, conn: asyncpg.Connection, state: RelayState) -> RelayState | None:
        """An operator's ``republish_from`` request, turned into the state to publish from."""
        start = await conn.fetchval(
            """WITH asked AS (SELECT republish_from FROM relay_checkpoint
                              WHERE topic = $1 AND republish_from IS NOT NULL FOR UPDATE)
               UPDATE relay_checkpoint c SET republish_from = NULL FROM asked
               WHERE c.topic = $1 RETURNING asked.republish_from""",
            self.topic,
        )
        if start is None:
            return None
        first_tx = await conn.fetchval("SELECT min(tx_id) FROM events WHERE position >= $1", int(start))
        if first_tx is None:
            return None
        restart = LogPosition(int(first_tx), 0)  # every row of that transaction and after it
        if restart >= state.position:
            return None
        republished = await self._count_between(conn, restart, state.position)
        await conn.execute(
            """UPDATE relay_checkpoint SET republished_events = republished_events + $2, tx_id = $3,
                      position = $4, updated_at = now() WHERE topic = $1""",
            self.topic,
            republished,
            restart.tx_id,
            restart.position,
        )
        RELAY_REPUBLISHED.labels(self.service).inc(republished)
        log.warning(
            "relay %s: republishing %d event(s) from position %d on an operator's request",
            self.topic,
            republished,
            start,
        )
        return RelayState(restart, dict(state.acked))  # same log, offsets only grow

    async def _mark(self, conn: asyncpg.Connection, mark: asyncpg.Record) -> RelayState:
        raw = await conn.fetchval(
            "SELECT acked::text FROM relay_marks WHERE topic = $1 AND tx_id = $2 AND position = $3",
            self.topic,
            mark["tx_id"],
            mark["position"],
        )
        return RelayState(LogPosition(int(mark["tx_id"]), int(mark["position"])), parse_acked(raw))

    @staticmethod
    async def _count_between(conn: asyncpg.Connection, after: LogPosition, upto: LogPosition) -> int:
        count = await conn.fetchval(
            """SELECT count(*) FROM events WHERE (tx_id, position) > ($1::xid8, $2::bigint)
               AND (tx_id, position) <= ($3::xid8, $4::bigint)""",
            after.tx_id,
            after.position,
            upto.tx_id,
            upto.position,
        )
        return int(count)
