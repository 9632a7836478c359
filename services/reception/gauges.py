"""Gauges refreshed from the read models (every ``RECEPTION_GAUGE_PERIOD_SECONDS``): per line, the
customers waiting and the open counters serving it; the phone answering ratio of the last 24 h.
Across all branches of the database, so labels stay bounded (line only)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.reception.catalogue import Catalogue
from services.reception.metrics import CALLS_WITHIN_TARGET_RATIO, OPEN_COUNTERS, QUEUE_LENGTH


async def refresh_gauges(pool: asyncpg.Pool, now: datetime, catalogue: Catalogue) -> None:
    since = now.timestamp() - 24 * 3600
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT line, count(*) AS n FROM visits WHERE status = 'queued' GROUP BY line"
        )
        ratio = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE within_target) AS ok, count(*) AS answered FROM calls
               WHERE answered_at >= to_timestamp($1)""",
            since,
        )
        # an open counter not seen for a day was forgotten open: it serves nobody
        open_rows = await conn.fetch(
            """SELECT lines FROM counters WHERE state = 'open'
               AND greatest(state_since, last_active_at) >= to_timestamp($1)""",
            since,
        )
    counts = {r["line"]: r["n"] for r in rows}
    for line in catalogue.lines:
        QUEUE_LENGTH.labels(line).set(counts.get(line, 0))
        OPEN_COUNTERS.labels(line).set(sum(1 for r in open_rows if not r["lines"] or line in r["lines"]))
    assert ratio is not None
    answered = ratio["answered"]
    CALLS_WITHIN_TARGET_RATIO.set(ratio["ok"] / answered if answered else float("nan"))
