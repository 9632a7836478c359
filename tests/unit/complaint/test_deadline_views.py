"""The answer's deadlines, built from the values (issue 19), read exactly as ``Deadline.to_json``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.complaint.views import DeadlineView, deadline_views
from shared.clock import SystemClock
from shared.sla.deadlines import DeadlineCache, Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.subject import Subject


def test_views_equal_the_json_round_trip() -> None:
    book = PolicyBook.load()
    cache = DeadlineCache(Deadlines("complaint", SystemClock(), book), "c-1", [])
    start = datetime(2026, 3, 27, 16, 45, tzinfo=UTC)
    started = [
        asyncio.run(
            cache.start(
                None,  # type: ignore[arg-type]  # the cache writes nothing until write()
                subject=Subject("complaint", "c-1", "complaint-c-1", "b001"),
                sla=sla,
                started_at=start,
                restart=True,
            )
        )
        for sla in ("complaint.acknowledge", "complaint.regulatory", "complaint.resolve")
    ]
    met = replace(started[0], state="met", ended_at=start + timedelta(minutes=5))
    risky = replace(started[2], fired=("at_risk:0.8",))
    shown = [*started, met, risky, replace(started[1], due_at=None)]
    now = start + timedelta(hours=3, seconds=0.4)
    expected = [DeadlineView.model_validate(d.to_json(now)).model_dump_json() for d in shown]
    assert [v.model_dump_json() for v in deadline_views(shown, now)] == expected
