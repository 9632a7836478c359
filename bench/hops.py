"""Where a complaint's time goes on its way to HQ: one figure per hop, from timestamps the pipeline
already leaves behind (no instrumentation in the services).

For each complaint (matched by ``complaint_id``):

1. ``recorded``: the command's ``recorded_at`` in the complaint service's store (decided, before its
   COMMIT);
2. ``published``: the record's timestamp on ``complaint.events.v1`` (the relay stamps a record
   when it builds the produce batch: after it read the committed row);
3. ``folded``: the ``recorded_at`` of the first ``ComplaintFactsUpdated`` of the case in hqfeed's
   store (stamped in the aggregator's batch transaction, after the fetch, the linger and the fold);
4. ``fed``: that record's timestamp on ``hqfeed.events.v1`` (hqfeed's relay);
5. ``shown``: the first sighting of the case in ``hq.complaints`` (the caller's watcher).

So the hops are: commit + relay (1→2), broker + hqfeed's fetch, linger and fold (2→3), hqfeed's
commit + relay (3→4), broker + HQ's fetch, apply and commit (+ the watcher's poll) (4→5). All
timestamps are wall clock of one machine; Kafka's have millisecond resolution.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stats import percentile

HOPS: tuple[tuple[str, str, str, str], ...] = (
    ("recorded", "published", "command → complaint relay published", "commit, NOTIFY, relay round"),
    ("published", "folded", "→ hqfeed folded", "broker, hqfeed fetch + linger + fold"),
    ("folded", "fed", "→ hqfeed relay published", "hqfeed commit, offsets, relay round"),
    ("fed", "shown", "→ visible at HQ", "broker, HQ fetch + apply + commit, watcher poll"),
)

#: how a mono-clock instant (``time.monotonic()``) is turned into wall-clock seconds
WALL_OFFSET = time.time() - time.monotonic()


def wall(monotonic: float) -> float:
    return monotonic + WALL_OFFSET


@dataclass
class Stamps:
    """complaint id → the wall-clock seconds of each stage seen."""

    at: dict[str, dict[str, float]]

    def hops(self) -> list[tuple[str, str, list[float]]]:
        """Per hop: its name, what it holds, and the samples (seconds)."""
        out = []
        for first, then, name, what in HOPS:
            samples = [s[then] - s[first] for s in self.at.values() if first in s and then in s]
            out.append((name, what, samples))
        return out

    def lines(self) -> list[str]:
        rows = []
        for name, what, samples in self.hops():
            if samples:
                rows.append(
                    f"  {name}: p50 {percentile(samples, 50) * 1000:.0f} ms,"
                    f" p99 {percentile(samples, 99) * 1000:.0f} ms ({what}; {len(samples)})"
                )
            else:
                rows.append(f"  {name}: not seen ({what})")
        return rows


async def collect(
    database_url: str,
    bootstrap_servers: str,
    *,
    branch_prefix: str,
    since: float,
    shown: Mapping[str, float],
    recorded_in_complaint_store: bool = True,
) -> Stamps:
    """The stamps of the complaints in ``shown`` (complaint id → wall-clock first sighting at HQ),
    of branches named ``branch_prefix…``, published since ``since`` (wall clock)."""
    at: dict[str, dict[str, float]] = {cid: {"shown": t} for cid, t in shown.items()}

    def put(cid: str, stage: str, t: float) -> None:
        if cid in at:  # only the cases measured (and seen) at HQ
            at[cid].setdefault(stage, t)

    conn = await asyncpg.connect(database_url)
    try:
        if recorded_in_complaint_store:
            for r in await conn.fetch(
                """SELECT data->>'complaint_id' AS id, extract(epoch FROM recorded_at)::float8 AS t
                   FROM complaint.events WHERE type = 'ComplaintReceived' AND branch_id LIKE $1""",
                branch_prefix + "%",
            ):
                put(r["id"], "recorded", r["t"])
        facts: dict[str, str] = {}  # hqfeed event id → complaint id (its first facts record)
        for r in await conn.fetch(
            """SELECT DISTINCT ON (data->>'complaint_id') data->>'complaint_id' AS id,
                      event_id::text AS event_id, extract(epoch FROM recorded_at)::float8 AS t
               FROM hqfeed.events WHERE type = 'ComplaintFactsUpdated' AND branch_id LIKE $1
               ORDER BY data->>'complaint_id', position""",
            branch_prefix + "%",
        ):
            put(r["id"], "folded", r["t"])
            facts[r["event_id"]] = r["id"]
    finally:
        await conn.close()

    def received(envelope: dict[str, object]) -> str | None:
        data = envelope.get("data")
        if envelope.get("type") == "ComplaintReceived" and isinstance(data, dict):
            return str(data.get("complaint_id"))
        return None

    for cid, t in (
        await record_times(bootstrap_servers, "complaint.events.v1", branch_prefix, since, received)
    ).items():
        put(cid, "published", t)
    fed = await record_times(
        bootstrap_servers,
        "hqfeed.events.v1",
        branch_prefix,
        since,
        lambda e: facts.get(str(e.get("event_id"))),
    )
    for cid, t in fed.items():
        put(cid, "fed", t)
    return Stamps(at)


async def record_times(
    bootstrap_servers: str,
    topic: str,
    key_prefix: str,
    since: float,
    ident: Callable[[dict[str, object]], str | None],
) -> dict[str, float]:
    """id → timestamp (wall seconds) of the first record on ``topic`` since ``since`` whose key
    starts with ``key_prefix`` and whose envelope ``ident`` names."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, float] = {}
    try:
        await consumer.topics()  # the cluster's metadata
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times({tp: int((since - 1) * 1000) for tp in partitions})
        todo = {}
        for tp in partitions:
            found = starts.get(tp)
            if found is None or found.offset >= ends[tp]:
                continue
            consumer.seek(tp, found.offset)
            todo[tp] = ends[tp]
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(*todo, timeout_ms=500, max_records=5000)).items():
                for record in records:
                    if (record.key or b"").decode().startswith(key_prefix):
                        cid = ident(json.loads(record.value or b"{}"))
                        if cid is not None:
                            out.setdefault(cid, record.timestamp / 1000)
                    if record.offset + 1 >= todo.get(tp, 0):
                        todo.pop(tp, None)
    finally:
        await consumer.stop()
    return out
