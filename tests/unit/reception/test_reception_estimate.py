"""The estimated wait is sane: zero when nobody waits, monotonic, sensible units."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.reception.estimate import estimated_wait, mean_service_time

FIVE_MIN = timedelta(minutes=5)


def est(waiting: int, busy: int, counters: int, service: timedelta = FIVE_MIN) -> timedelta:
    return estimated_wait(waiting=waiting, busy=busy, counters=counters, service_time=service)


def test_nobody_waiting_and_a_free_counter_means_no_wait() -> None:
    assert est(0, 0, 1) == timedelta(0)
    assert est(0, 1, 2) == timedelta(0)


def test_one_counter_busy_means_one_service_time() -> None:
    assert est(0, 1, 1) == FIVE_MIN
    assert est(1, 1, 1) == 2 * FIVE_MIN


def test_more_counters_share_the_queue() -> None:
    assert est(9, 3, 3) == 3 * FIVE_MIN + FIVE_MIN / 3
    assert est(9, 3, 3) < est(9, 1, 1)


def test_no_counter_seen_yet_counts_as_one() -> None:
    assert est(2, 0, 0) == 2 * FIVE_MIN


counts = st.integers(min_value=0, max_value=200)


@given(counts, counts, st.integers(min_value=0, max_value=30))
def test_monotonic_in_queue_busy_counters(waiting: int, busy: int, counters: int) -> None:
    busy = min(busy, max(counters, 1))
    base = est(waiting, busy, counters)
    assert base >= timedelta(0)
    assert est(waiting + 1, busy, counters) >= base
    assert est(waiting, busy, counters + 1) <= base
    # never more than everyone ahead served one by one
    assert base <= (waiting + busy + 1) * FIVE_MIN


def test_mean_service_time_ignores_implausible_samples_and_falls_back() -> None:
    assert mean_service_time([], FIVE_MIN) == FIVE_MIN
    assert mean_service_time([5, 100_000], FIVE_MIN) == FIVE_MIN
    assert mean_service_time([120, 240, 3], FIVE_MIN) == timedelta(seconds=180)
