"""A started deadline's due time and first milestone, set in place (issue 19), are what
``schedule`` computes for it: calendar and business counting, every policy of the book."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import SystemClock
from shared.sla.deadlines import DeadlineCache, Deadlines, schedule
from shared.sla.policy import PolicyBook, SlaPolicy
from shared.sla.subject import Subject

BOOK = PolicyBook.load()
moments = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 1), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(
    moments,
    st.sampled_from(sorted(BOOK.policies)),
    st.sampled_from(["calendar", "business"]),
    st.lists(st.floats(0.05, 0.95), max_size=2),
    st.integers(1, 60 * 24 * 40),
)
def test_start_sets_what_schedule_computes(
    start: datetime, sla: str, counting: str, warnings: list[float], minutes: int
) -> None:
    base = BOOK.policy(sla)
    policy = SlaPolicy(
        sla=sla,
        duration=timedelta(minutes=minutes),
        counting="business" if counting == "business" else "calendar",
        at_risk_fraction=base.at_risk_fraction,
        warnings=tuple(warnings),
        rule=base.rule,
        policy=base.policy,
    )
    cache = DeadlineCache(Deadlines("complaint", SystemClock(), BOOK), "s-1", [])
    for chosen in (policy, None):  # given, or the book's own for the SLA
        started = asyncio.run(
            cache.start(
                None,  # type: ignore[arg-type]  # the cache writes nothing until write()
                subject=Subject("complaint", "s-1", "complaint-s-1", "b001"),
                sla=sla,
                started_at=start,
                policy=chosen,
                restart=True,
            )
        )
        bare = replace(started, due_at=None, next_fire_at=None, next_fire_kind=None)
        assert started == schedule(bare, BOOK)
