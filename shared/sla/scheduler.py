"""The deadline scheduler: fires at-risk milestones and breaches on time, exactly once.

Each tick takes due rows with ``FOR UPDATE SKIP LOCKED``, so two replicas never fire the same
milestone; the service's ``on_fire`` callback appends its SLA event in the same transaction that
records the milestone as fired, so a crash between the two is impossible. A deadline that passed
while the service was down is simply due at the first tick after start-up. Time comes from the
injected clock: tests call :meth:`tick` instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from shared.metrics import SLA_AT_RISK, SLA_BREACHES
from shared.periodic import every
from shared.sla.deadlines import Deadline, Deadlines, from_row, schedule

log = logging.getLogger(__name__)

Kind = Literal["at_risk", "breached"]
OnFire = Callable[[asyncpg.Connection, Deadline, Kind, datetime], Awaitable[None]]
"""Append the SLA event (and any reaction, e.g. escalation) inside the given transaction.

Arguments: the transaction, the deadline (as of the milestone), which milestone, and the moment it
was reached (``due_at`` for a breach — also when it fires late after downtime)."""

RETRY_AFTER = timedelta(seconds=30)
#: the at-risk gauge counts every open deadline (a scan of the table): at most this often, plus
#: after a tick that fired (Prometheus scrapes every 15 s; a met deadline leaves it this late)
GAUGE_SECONDS = 10.0


class DeadlineScheduler:
    def __init__(
        self,
        deadlines: Deadlines,
        pool: asyncpg.Pool,
        on_fire: OnFire,
        *,
        period: float = 1.0,
        batch: int = 100,
    ) -> None:
        self.deadlines = deadlines
        self.pool = pool
        self.on_fire = on_fire
        self.period = period
        self.batch = batch
        self._gauge_at: float | None = None  # monotonic time of the last refresh
        deadlines.touch_metrics()

    async def tick(self) -> int:
        """Fire every milestone that is due now; returns how many fired."""
        now = self.deadlines.clock.now()
        fired = 0
        async with self.pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    rows = await conn.fetch(
                        """SELECT * FROM deadlines WHERE next_fire_at <= $1
                           ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
                        now,
                        self.batch,
                    )
                    for row in rows:
                        fired += await self._fire_due(conn, from_row(row), now)
                if len(rows) < self.batch:
                    break
            if fired or self._gauge_at is None or time.monotonic() - self._gauge_at >= GAUGE_SECONDS:
                await self._refresh_gauge(conn)
                self._gauge_at = time.monotonic()
        return fired

    async def _fire_due(self, conn: asyncpg.Connection, deadline: Deadline, now: datetime) -> int:
        """Fire this deadline's milestones up to ``now``, in order (several after downtime)."""
        fired = 0
        while deadline.next_fire_at is not None and deadline.next_fire_at <= now:
            kind_name = deadline.next_fire_kind or "breached"
            kind: Kind = "breached" if kind_name == "breached" else "at_risk"
            reached = deadline.next_fire_at
            updated = schedule(
                replace(
                    deadline,
                    fired=(*deadline.fired, kind_name),
                    state="breached" if kind == "breached" else deadline.state,
                ),
                self.deadlines.book,
            )
            try:
                async with conn.transaction():  # a savepoint: one failing callback spares the rest
                    await self.on_fire(conn, updated, kind, reached)
                    await conn.execute(
                        """UPDATE deadlines SET fired = $2, state = $3, next_fire_at = $4,
                               next_fire_kind = $5, updated_at = now() WHERE deadline_id = $1""",
                        updated.deadline_id,
                        list(updated.fired),
                        updated.state,
                        updated.next_fire_at,
                        updated.next_fire_kind,
                    )
            except Exception:
                log.exception(
                    "%s: firing %s of %s failed; retrying later",
                    self.deadlines.service,
                    kind_name,
                    deadline.subject_id,
                )
                await conn.execute(
                    "UPDATE deadlines SET next_fire_at = $2 WHERE deadline_id = $1",
                    deadline.deadline_id,
                    now + RETRY_AFTER,
                )
                return fired
            if kind == "breached":
                SLA_BREACHES.labels(self.deadlines.service, deadline.sla).inc()
            fired += 1
            deadline = updated
        return fired

    async def _refresh_gauge(self, conn: asyncpg.Connection) -> None:
        """Count the at-risk deadlines per SLA: a scan of the open ones, so each row's test must be
        cheap. Most rows have fired nothing yet: ``fired <> '{}'`` (evaluated first, ``AND``
        stops there) spares them the ``unnest`` subquery, which was half the scan: 80,000 open
        deadlines, 3 % of them at risk, alternated on a loaded 2-core machine: 1,025-1,147 ms →
        312-541 ms. The scheduler refreshes every 10 s, and after every tick that fired."""
        rows = await conn.fetch(
            """SELECT sla, count(*) FILTER (WHERE state = 'running' AND fired <> '{}' AND EXISTS (
                         SELECT 1 FROM unnest(fired) f WHERE f LIKE 'at_risk%')) AS at_risk
               FROM deadlines WHERE state IN ('running', 'paused', 'breached') GROUP BY sla"""
        )
        for row in rows:
            SLA_AT_RISK.labels(self.deadlines.service, row["sla"]).set(row["at_risk"])

    async def run(self) -> None:
        """Tick forever, every ``period`` seconds; errors are logged and the next tick retries."""
        await every(
            self.period, self.tick, name=f"{self.deadlines.service}: deadline scheduler tick", logger=log
        )
