"""Cross-branch alerts of HQ's read model: category spikes (crisis suspected) and repeat complainants.

After a batch is written, :class:`Alerts` looks for patterns in what changed (the crisis slots and
the customers it touched, :mod:`services.hq.patterns`) and publishes each new alert once, through
HQ's own event store and outbox (``hq.events.v1``), in the batch's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import asyncpg

from services.hq import metrics
from services.hq.config import HqConfig
from services.hq.patterns import (
    RepeatRow,
    SpikeRow,
    Trigger,
    alert_id,
    alert_stream,
    candidate_windows,
    repeat_episodes,
    spike_rows,
)
from shared.clock import Clock
from shared.contracts.hq import CrisisSuspected, RepeatComplainantDetected
from shared.customer_aliases import customer_groups
from shared.envelope import Metadata
from shared.eventstore import EventStore
from shared.registry import EventData, envelope_of

log = logging.getLogger(__name__)

ACTOR = "system:hq-patterns"
#: the pseudo-branch HQ's own events are keyed by
HQ_BRANCH = "hq"

_TRIGGERS_SQL = """
SELECT c.category, c.start, count(DISTINCT s.branch_id)::int AS branches,
       sum(s.complaints)::int AS complaints,
       (array_agg(DISTINCT s.branch_id ORDER BY s.branch_id))[1:50] AS branch_ids
FROM unnest($1::text[], $2::timestamptz[]) AS c(category, start)
JOIN crisis_slots s ON s.category = c.category AND s.slot >= c.start AND s.slot < c.start + $3::interval
WHERE NOT EXISTS (SELECT 1 FROM crisis_windows w WHERE w.category = c.category AND w.start = c.start)
GROUP BY c.category, c.start
HAVING count(DISTINCT s.branch_id) >= $4
"""

_SPIKE_UPSERT = """
INSERT INTO spike_alerts (alert_key, category, window_start, window_end)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
ON CONFLICT (alert_key) DO UPDATE SET
    window_start = LEAST(spike_alerts.window_start, EXCLUDED.window_start),
    window_end = GREATEST(spike_alerts.window_end, EXCLUDED.window_end)
"""

_WIDEN_PUBLISHED = """
UPDATE alert_events e
SET window_start = LEAST(e.window_start, x.ws), window_end = GREATEST(e.window_end, x.we)
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS x(k, ws, we) WHERE e.alert_key = x.k
"""


@dataclass(frozen=True)
class Candidate:
    """An alert that may be published: its key, what it is about, its span, and the event."""

    kind: str
    alert_key: str
    subject: str
    start: datetime
    end: datetime
    #: the event, given the time it is detected at
    event: Callable[[datetime], EventData]


class Alerts:
    """Spike and repeat-complainant detection over the read model, publishing each alert once."""

    def __init__(self, *, config: HqConfig, store: EventStore | None, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.slot = timedelta(minutes=config.crisis_slot_minutes)
        self.window = timedelta(minutes=config.crisis_slot_minutes * config.slots_per_window())
        #: alerts published since the consumer last looked (it wakes the relay)
        self.published = 0

    # ----------------------------------------------------------------------- patterns

    async def spikes(self, conn: asyncpg.Connection, affected: set[tuple[str, datetime]]) -> None:
        windows = candidate_windows(affected, self.slot, self.config.slots_per_window())
        found = await conn.fetch(
            _TRIGGERS_SQL,
            [w[0] for w in windows],
            [w[1] for w in windows],
            self.window,
            self.config.crisis_min_branches,
        )
        if not found:
            return
        triggers = [
            Trigger(
                r["category"],
                r["start"],
                r["start"] + self.window,
                r["branches"],
                r["complaints"],
                tuple(r["branch_ids"]),
            )
            for r in found
        ]
        await conn.execute(
            """INSERT INTO crisis_windows (category, start)
               SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT DO NOTHING""",
            [t.category for t in triggers],
            [t.start for t in triggers],
        )
        rows = spike_rows(triggers, self.window)
        keys = sorted(rows)
        spans = (
            [rows[k].category for k in keys],
            [rows[k].window_start for k in keys],
            [rows[k].window_end for k in keys],
        )
        await conn.execute(_SPIKE_UPSERT, keys, *spans)
        await conn.execute(_WIDEN_PUBLISHED, keys, spans[1], spans[2])
        ordered = sorted(rows.values(), key=lambda r: (r.category, r.window_start))
        await self._publish(conn, [self._spike_candidate(row) for row in ordered])

    async def repeats(self, conn: asyncpg.Connection, refs: set[str]) -> None:
        """Recompute the repeat-complainant episodes of these customers. A ref the vault merged
        counts as its survivor (``customer_aliases``, resolved now, rows untouched), so the
        alerts are kept under the surviving ref; every ref of the customer's is recomputed."""
        customer_of = await customer_groups(conn, refs)
        wanted = sorted(customer_of)
        found = await conn.fetch(
            """SELECT customer_ref, branch_id, received_at FROM complaints
               WHERE customer_ref = ANY($1::text[]) AND received_at IS NOT NULL""",
            wanted,
        )
        rows = repeat_episodes(
            ((customer_of[r["customer_ref"]], r["branch_id"], r["received_at"]) for r in found),
            timedelta(days=self.config.repeat_window_days),
            self.config.repeat_min_branches,
        )
        await conn.execute("DELETE FROM repeat_alerts WHERE customer_ref = ANY($1::text[])", wanted)
        if not rows:
            return
        await conn.executemany(
            """INSERT INTO repeat_alerts (alert_key, customer_ref, first_at, last_at, branches, complaints,
                                          branch_ids) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [
                (x.alert_key, x.customer_ref, x.first_at, x.last_at, x.branches, x.complaints, x.branch_ids)
                for x in rows
            ],
        )
        await conn.execute(
            _WIDEN_PUBLISHED,
            [x.alert_key for x in rows],
            [x.first_at for x in rows],
            [x.last_at for x in rows],
        )
        await self._publish(conn, [self._repeat_candidate(x) for x in rows])

    def _spike_candidate(self, row: SpikeRow) -> Candidate:
        crisis = partial(self._crisis, row)
        return Candidate("spike", row.alert_key, row.category, row.window_start, row.window_end, crisis)

    def _repeat_candidate(self, row: RepeatRow) -> Candidate:
        repeat = partial(self._repeat, row)
        return Candidate(
            "repeat_complainant", row.alert_key, row.customer_ref, row.first_at, row.last_at, repeat
        )

    async def _publish(self, conn: asyncpg.Connection, candidates: list[Candidate]) -> None:
        """Publish each alert once, ever (rebuilds included): not if its key was published, nor if a
        published alert of the same kind and subject overlaps it (the same spike in the next
        bucket), nor if it ended longer ago than the publishing horizon. The clock's time now is
        the alerts' detection and publishing time."""
        if self.store is None:
            return
        now = self.clock.now()
        horizon = now - timedelta(hours=self.config.publish_max_age_hours)
        for c in candidates:
            if c.end < horizon:
                continue
            known = await conn.fetchval(
                """SELECT 1 FROM alert_events WHERE alert_key = $1 OR (kind = $2 AND subject = $3
                   AND window_start <= $5 AND window_end >= $4) LIMIT 1""",
                c.alert_key,
                c.kind,
                c.subject,
                c.start,
                c.end,
            )
            if known:
                continue
            inserted = await conn.fetchval(
                """INSERT INTO alert_events (alert_key, alert_id, stream_id, kind, subject, window_start,
                                             window_end, raised_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING alert_key""",
                c.alert_key,
                alert_id(c.alert_key),
                alert_stream(c.alert_key),
                c.kind,
                c.subject,
                c.start,
                c.end,
                now,
            )
            if inserted is None:  # another replica published it meanwhile
                continue
            data = c.event(now)
            stream = alert_stream(c.alert_key)
            env = envelope_of(
                data, stream_id=stream, version=1, branch_id=HQ_BRANCH, meta=Metadata(actor=ACTOR), at=now
            )
            await self.store.append(stream, 0, [env], conn)
            self.published += 1
            category = c.subject if c.kind == "spike" else "none"
            metrics.ALERTS_RAISED.labels(c.kind, category).inc()
            log.warning("HQ alert %s published (%s)", c.alert_key, data.event_type)

    def _crisis(self, row: SpikeRow, now: datetime) -> CrisisSuspected:
        t = row.first
        minutes = int(self.window.total_seconds() // 60)
        return CrisisSuspected(
            alert_id=alert_id(row.alert_key),
            alert_key=row.alert_key,
            category=row.category,
            window_start=t.start,
            window_end=t.end,
            branches=t.branches,
            complaints=t.complaints,
            branch_ids=list(t.branch_ids),
            threshold_branches=self.config.crisis_min_branches,
            window_minutes=minutes,
            rule=f"{row.category} complaints from {self.config.crisis_min_branches}+ branches "
            f"within {minutes} minutes (by receipt time)",
            detected_at=now,
        )

    def _repeat(self, row: RepeatRow, now: datetime) -> RepeatComplainantDetected:
        return RepeatComplainantDetected(
            alert_id=alert_id(row.alert_key),
            alert_key=row.alert_key,
            customer_ref=row.customer_ref,
            branches=row.branches,
            complaints=row.complaints,
            branch_ids=row.branch_ids,
            first_received_at=row.first_at,
            last_received_at=row.last_at,
            window_days=self.config.repeat_window_days,
            rule=f"the same customer complained in {self.config.repeat_min_branches}+ branches, each "
            f"complaint within {self.config.repeat_window_days} days of the previous one",
            detected_at=now,
        )
