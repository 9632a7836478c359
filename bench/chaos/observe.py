"""What the run checks acknowledged requests against: the topics, the stores, HQ and follow-up.

- :class:`TopicObserver` reads the complaint and reception topics from the beginning (no consumer
  group) and notes, per event of the fault's branches, when it was first seen and how often
  (duplicates). After a broker restart it reads the new topics again from their beginning.
- :func:`snapshot` reads the stores and read models for the fault's branches. Every query opens
  its own connection, so a PostgreSQL restart costs a missed poll, not the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

TOPICS = ("complaint.events.v1", "reception.events.v1")


@dataclass
class TopicObserver:
    bootstrap_servers: str
    branches: set[str]
    first_seen: dict[str, float] = field(default_factory=dict)  # event_id -> wall-clock time
    copies: Counter[str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Read both topics from the beginning (events of other faults' branches are skipped), so
        nothing published while the consumer starts is missed; start over when the broker was
        restarted (positions beyond the new end offsets) or does not answer."""
        while not self._stop.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=100,
                request_timeout_ms=5000,
            )
            try:
                await asyncio.wait_for(consumer.start(), 10)
                parts = [
                    TopicPartition(t, p)
                    for t in TOPICS
                    for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                if not parts:
                    raise RuntimeError("topics not there (yet)")
                consumer.assign(parts)
                await consumer.seek_to_beginning(*parts)
                checked = time.monotonic()
                while not self._stop.is_set():
                    batch = await consumer.getmany(timeout_ms=200)
                    now = time.time()
                    for records in batch.values():
                        for record in records:
                            self._note(record.value or b"", now)
                    if time.monotonic() - checked > 5:
                        checked = time.monotonic()
                        ends = await consumer.end_offsets(parts)
                        for tp, end in ends.items():
                            if await consumer.position(tp) > end:
                                raise RuntimeError("the broker lost its topics: read them again")
            except Exception:
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def _note(self, raw: bytes, now: float) -> None:
        try:
            envelope = json.loads(raw)
        except ValueError:
            return
        if envelope.get("branch_id") not in self.branches:
            return
        event_id = str(envelope.get("event_id"))
        self.copies[event_id] += 1
        self.first_seen.setdefault(event_id, now)

    def stop(self) -> None:
        self._stop.set()

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values() if n > 1)


@dataclass
class Snapshot:
    complaints: set[str] = field(default_factory=set)  # in the complaint store
    visits: set[str] = field(default_factory=set)  # in the reception store
    recorded: dict[str, float] = field(default_factory=dict)  # event_id -> recorded_at (epoch s)
    hq_complaints: set[str] = field(default_factory=set)
    hq_visits: dict[str, int] = field(default_factory=dict)  # branch -> visits counted by HQ
    followup_complaints: set[str] = field(default_factory=set)


async def snapshot(database_url: str, branches: list[str], *, timeout: float = 10.0) -> Snapshot | None:
    """The stores and read models of ``branches``; None while PostgreSQL does not answer."""
    try:
        conn = await asyncpg.connect(database_url, timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        snap = Snapshot()
        for schema, prefix, target in (
            ("complaint", "complaint-", snap.complaints),
            ("reception", "visit-", snap.visits),
        ):
            rows = await conn.fetch(
                "SELECT stream_id, stream_version, event_id::text AS event_id, recorded_at"
                f" FROM {schema}.events WHERE branch_id = ANY($1::text[])",
                branches,
            )
            for r in rows:
                snap.recorded[r["event_id"]] = _epoch(r["recorded_at"])
                if r["stream_version"] == 1 and r["stream_id"].startswith(prefix):
                    target.add(r["stream_id"].removeprefix(prefix))
        hq = await conn.fetch(
            "SELECT complaint_id::text AS id FROM hq.complaints WHERE branch_id = ANY($1::text[])", branches
        )
        snap.hq_complaints = {r["id"] for r in hq}
        visits = await conn.fetch(
            "SELECT branch_id, sum(visits)::int AS n FROM hq.branch_day WHERE branch_id = ANY($1::text[])"
            " GROUP BY branch_id",
            branches,
        )
        snap.hq_visits = {r["branch_id"]: r["n"] for r in visits}
        followup = await conn.fetch(
            "SELECT complaint_id::text AS id FROM followup.complaints WHERE branch_id = ANY($1::text[])",
            branches,
        )
        snap.followup_complaints = {r["id"] for r in followup}
        return snap
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None
    finally:
        with contextlib.suppress(Exception):
            await conn.close()


def _epoch(at: datetime) -> float:
    return at.timestamp()
