"""Merging a window's held KPI deltas (``services/hqfeed/deltas.py``): what one batch over the same
events would have published."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.hqfeed.deltas import merge
from shared.contracts.hqfeed import (
    BranchKpisDelta,
    CategoryCounts,
    ClosedBreach,
    DayCounts,
    OpenBreach,
    SlaCounts,
    SlotCount,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = date(2026, 12, 7)


def delta(**fields: object) -> BranchKpisDelta:
    base: dict[str, object] = {"branch_id": "b001", "first_event_at": T0, "last_event_at": T0}
    return BranchKpisDelta.model_validate({**base, **fields})


def fees(category: str = "fees", **counts: int) -> CategoryCounts:
    return CategoryCounts(category=category, nature="general", channel="in_branch", **counts)


def opened(subject: str) -> OpenBreach:
    return OpenBreach(subject_id=subject, sla="reception.wait", subject_type="visit", breached_at=T0)


def closed(subject: str) -> ClosedBreach:
    return ClosedBreach(subject_id=subject, sla="reception.wait")


def test_counters_outcomes_categories_and_slots_add_up() -> None:
    a = delta(
        last_event_at=T0 + timedelta(seconds=1),
        days=[
            DayCounts(
                day=DAY,
                counters={"visits": 2, "wait_seconds": 1.5, "fcr_closes": 1},
                sla=[SlaCounts(sla="reception.wait", met=1)],
                categories=[
                    CategoryCounts(category="fees", nature="general", channel="in_branch", received=1)
                ],
            )
        ],
        complaints_received=1,
        complaints_received_at=T0,
        crisis_slots=[SlotCount(category="fees", slot=T0, complaints=1)],
    )
    b = delta(
        first_event_at=T0 - timedelta(seconds=1),
        days=[
            DayCounts(
                day=DAY,
                counters={"visits": 1, "wait_seconds": 0.25, "fcr_closes": -1},
                sla=[SlaCounts(sla="reception.wait", breached=1)],
                categories=[
                    fees(received=-1),
                    fees("staff", received=1),
                ],
            ),
            DayCounts(day=DAY + timedelta(days=1), counters={"visits": 1}),
        ],
        complaints_received=2,
        complaints_received_at=T0 + timedelta(seconds=2),
        crisis_slots=[SlotCount(category="fees", slot=T0, complaints=2)],
    )
    m = merge([a, b])
    assert (m.first_event_at, m.last_event_at) == (T0 - timedelta(seconds=1), T0 + timedelta(seconds=1))
    assert m.complaints_received == 3 and m.complaints_received_at == T0 + timedelta(seconds=2)
    first, second = m.days
    assert first.counters == {
        "visits": 3.0,
        "wait_seconds": 1.75,
    }  # an FCR undone: left out, as the fold does
    assert first.sla == [SlaCounts(sla="reception.wait", met=1, breached=1)]
    assert first.categories == [
        CategoryCounts(category="staff", nature="general", channel="in_branch", received=1)
    ]
    assert second.counters == {"visits": 1.0}
    assert m.crisis_slots == [SlotCount(category="fees", slot=T0, complaints=3)]


def test_a_breach_opened_and_closed_in_one_window_cancels_out() -> None:
    m = merge([delta(breaches_opened=[opened("v1"), opened("v2")]), delta(breaches_closed=[closed("v1")])])
    assert m.breaches_opened == [opened("v2")] and m.breaches_closed == []


def test_a_breach_from_before_the_window_closed_and_breached_again_is_both() -> None:
    # as one batch: closed (it was open before), breached again, then (third batch) closed again
    m = merge([delta(breaches_closed=[closed("v1")]), delta(breaches_opened=[opened("v1")])])
    assert m.breaches_closed == [closed("v1")] and m.breaches_opened == [opened("v1")]
    m = merge([*[m], delta(breaches_closed=[closed("v1")])])
    assert m.breaches_closed == [closed("v1")] and m.breaches_opened == []


def test_one_delta_is_itself_and_two_branches_are_refused() -> None:
    one = delta(complaints_received=1)
    assert merge([one]) is one
    with pytest.raises(ValueError):
        merge([one, delta(branch_id="b002")])
    with pytest.raises(ValueError):
        merge([])
