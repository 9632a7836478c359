"""Crisis (category spike) and repeat-complainant detection: windows, keys, episodes, and that the
result does not depend on the order complaints arrive in."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.hq.patterns import (
    Trigger,
    alert_id,
    candidate_windows,
    merge_episodes,
    overlaps,
    repeat_episodes,
    spike_key,
    spike_rows,
)

SLOT = timedelta(minutes=5)
HOUR = timedelta(hours=1)
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def trig(category: str, start: datetime, branches: int = 5) -> Trigger:
    return Trigger(category, start, start + HOUR, branches, branches, tuple(f"b{i}" for i in range(branches)))


def test_a_slot_belongs_to_the_windows_that_start_up_to_an_hour_before_it() -> None:
    windows = candidate_windows({("system_failure", T)}, SLOT, 12)
    assert len(windows) == 12
    assert windows[0] == ("system_failure", T - 11 * SLOT) and windows[-1] == ("system_failure", T)
    both = candidate_windows({("x", T), ("x", T + SLOT)}, SLOT, 12)
    assert len(both) == 13  # shared windows counted once


def test_spike_rows_group_windows_by_category_and_hour_bucket() -> None:
    rows = spike_rows(
        [
            trig("system_failure", T + 20 * 60 * timedelta(seconds=1)),
            trig("system_failure", T + 45 * timedelta(minutes=1)),
            trig("system_failure", T - 10 * timedelta(minutes=1)),
            trig("fees", T),
        ],
        HOUR,
    )
    assert sorted(rows) == [
        "spike:fees:20260302T0900",
        "spike:system_failure:20260302T0800",
        "spike:system_failure:20260302T0900",
    ]
    nine = rows["spike:system_failure:20260302T0900"]
    assert nine.window_start == T + timedelta(minutes=20) and nine.window_end == T + timedelta(minutes=105)
    assert nine.first.start == T + timedelta(minutes=20)
    assert spike_key("x", T + timedelta(minutes=59), HOUR) == "spike:x:20260302T0900"


def test_adjacent_buckets_of_one_spike_are_one_episode() -> None:
    rows = [
        {
            "alert_key": "spike:a:0800",
            "category": "a",
            "window_start": T - timedelta(minutes=10),
            "window_end": T + timedelta(minutes=50),
        },
        {
            "alert_key": "spike:a:0900",
            "category": "a",
            "window_start": T,
            "window_end": T + timedelta(minutes=80),
        },
        {
            "alert_key": "spike:a:1300",
            "category": "a",
            "window_start": T + 4 * HOUR,
            "window_end": T + 5 * HOUR,
        },
        {"alert_key": "spike:b:0900", "category": "b", "window_start": T, "window_end": T + HOUR},
    ]
    episodes = merge_episodes(list(reversed(rows)))
    assert [(e.alert_key, e.keys) for e in episodes] == [
        ("spike:a:0800", ["spike:a:0800", "spike:a:0900"]),
        ("spike:a:1300", ["spike:a:1300"]),
        ("spike:b:0900", ["spike:b:0900"]),
    ]
    assert episodes[0].window_end == T + timedelta(minutes=80)
    assert overlaps(T, T + HOUR, T + HOUR, T + 2 * HOUR) and not overlaps(
        T, T + HOUR, T + 2 * HOUR, T + 3 * HOUR
    )


def test_repeat_complainant_needs_two_branches_within_the_window() -> None:
    day = timedelta(days=1)
    complaints = [
        ("cust_a", "b1", T),
        ("cust_a", "b2", T + 29 * day),  # 29 days apart: one episode
        ("cust_b", "b1", T),
        ("cust_b", "b2", T + 31 * day),  # 31 days apart: none
        ("cust_c", "b1", T),
        ("cust_c", "b1", T + day),  # one branch: none
        ("cust_d", "b1", T),
        ("cust_d", "b1", T + 20 * day),
        ("cust_d", "b3", T + 40 * day),  # a chain
    ]
    rows = repeat_episodes(complaints, 30 * day, 2)
    assert [(r.customer_ref, r.branches, r.complaints, r.branch_ids) for r in rows] == [
        ("cust_a", 2, 2, ["b1", "b2"]),
        ("cust_d", 2, 3, ["b1", "b3"]),
    ]
    assert rows[0].alert_key == "repeat:cust_a:20260302" and rows[1].last_at == T + 40 * day
    assert repeat_episodes(complaints, 30 * day, 3) == []


def test_detection_does_not_depend_on_arrival_order() -> None:
    rng = random.Random(1)
    complaints = [
        (f"cust_{rng.randrange(5)}", f"b{rng.randrange(4)}", T + timedelta(days=rng.randrange(90)))
        for _ in range(60)
    ]
    triggers = [trig("c", T + k * SLOT) for k in rng.sample(range(40), 15)]
    expected = (repeat_episodes(complaints, timedelta(days=30), 2), spike_rows(triggers, HOUR))
    for _ in range(10):
        rng.shuffle(complaints)
        rng.shuffle(triggers)
        got = (repeat_episodes(complaints, timedelta(days=30), 2), spike_rows(triggers, HOUR))
        assert got[0] == expected[0]
        assert {k: (v.window_start, v.window_end, v.first) for k, v in got[1].items()} == {
            k: (v.window_start, v.window_end, v.first) for k, v in expected[1].items()
        }


def test_alert_ids_are_stable() -> None:
    assert alert_id("spike:a:20260302T0900") == alert_id("spike:a:20260302T0900")
    assert alert_id("spike:a:20260302T0900") != alert_id("spike:a:20260302T1000")
