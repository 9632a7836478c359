"""KPI arithmetic: quantiles from fixed buckets, ratios with no data, the KPI set."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from services.hq.kpis import (
    COUNTERS,
    DERIVED_SUMS,
    KPIS,
    WAIT_BUCKETS,
    WAIT_COLUMNS,
    bucket_index,
    compute,
    quantile_from_buckets,
    wait_histogram,
)


def counts(**by_bound: int) -> list[int]:
    """Bucket counts from ``le_60=3`` style keywords (``le_inf`` for the open bucket)."""
    out = [0] * len(WAIT_BUCKETS)
    for key, n in by_bound.items():
        bound = math.inf if key == "le_inf" else float(key.removeprefix("le_"))
        out[WAIT_BUCKETS.index(bound)] = n
    return out


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (30, 0), (30.01, 1), (60, 1), (899, 5), (900, 5), (901, 6), (1800, 7), (3600, 9), (99999, 10)],
)
def test_bounds_are_inclusive_upper_bounds(seconds: float, bucket: int) -> None:
    assert bucket_index(seconds) == bucket


def test_p90_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # 10 waits: 3 ≤ 60 s, 2 ≤ 120 s, 2 ≤ 300 s, 2 ≤ 600 s, 1 ≤ 2700 s: rank 9 is the 2nd of 2 in (300, 600]
    hist = counts(le_60=3, le_120=2, le_300=2, le_600=2, le_2700=1)
    assert quantile_from_buckets(hist, 0.9) == pytest.approx(600.0)
    assert quantile_from_buckets(hist, 0.5) == pytest.approx(60 + 60 * (5 - 3) / 2)
    assert quantile_from_buckets(hist, 1.0) == pytest.approx(2700.0)


def test_p90_of_one_bucket_spreads_linearly_over_it() -> None:
    assert quantile_from_buckets(counts(le_900=10), 0.9) == pytest.approx(600 + 300 * 0.9)


def test_the_open_bucket_answers_its_floor_and_no_data_is_none() -> None:
    assert quantile_from_buckets(counts(le_inf=4), 0.9) == 3600.0
    assert quantile_from_buckets([0] * len(WAIT_BUCKETS), 0.9) is None


def test_buckets_merge_by_addition() -> None:
    a, b = counts(le_60=5), counts(le_1800=5)
    merged = [x + y for x, y in zip(a, b, strict=True)]
    assert quantile_from_buckets(merged, 0.5) == pytest.approx(60.0)
    assert quantile_from_buckets(merged, 0.9) == pytest.approx(1200 + 600 * 0.8)


def test_rates_are_none_without_a_denominator_never_zero() -> None:
    k = compute({}, 0.95)
    for name in (
        "avg_wait_seconds",
        "p90_wait_seconds",
        "fcr_rate",
        "satisfaction_rate",
        "response_rate",
        "sla_compliance",
        "avg_ack_seconds",
        "phone_in_target",
        "satisfaction_gap",
    ):
        assert k[name] is None, name
    assert k["visits"] == 0 and k["satisfaction_target"] == 0.95


def test_kpis_from_summed_counters() -> None:
    sums = {
        "visits": 200,
        "wait_count": 180,
        "wait_seconds": 180 * 300.0,
        "wait_b3": 100,
        "wait_b5": 60,
        "wait_b7": 20,
        "visits_abandoned": 8,
        "visits_no_show": 2,
        "complaints_received": 4,
        "first_closes": 4,
        "fcr_closes": 3,
        "surveys_answered": 100,
        "surveys_satisfied": 93,
        "surveys_expired": 25,
        "score_sum": 460,
        "sla_met": 90,
        "sla_breached": 10,
        "complaints_acknowledged": 4,
        "ack_seconds": 4 * 600.0,
    }
    k = compute(sums, 0.95)
    assert k["avg_wait_seconds"] == 300.0
    assert k["wait_within_target"] == pytest.approx(160 / 180)
    assert k["abandon_rate"] == pytest.approx(0.05)
    assert k["complaints_per_1000_visits"] == pytest.approx(20.0)
    assert k["fcr_rate"] == 0.75 and k["sla_compliance"] == 0.9 and k["avg_ack_seconds"] == 600.0
    assert k["satisfaction_rate"] == 0.93 and k["satisfaction_gap"] == pytest.approx(-0.02)
    assert k["response_rate"] == pytest.approx(100 / 125) and k["avg_score"] == 4.6
    assert [b["count"] for b in wait_histogram(sums)][3] == 100 and wait_histogram(sums)[-1]["le"] is None


def test_every_kpi_sql_names_only_known_counters() -> None:
    for kpi in KPIS.values():
        for name in re.findall(r"s\.([a-z0-9_]+)", kpi.sql):
            assert name in COUNTERS or name in DERIVED_SUMS, (kpi.name, name)
    for expression in DERIVED_SUMS.values():
        assert set(expression.split(" + ")) <= set(WAIT_COLUMNS)
    assert set(KPIS) <= set(compute({}, 0.95))


def test_the_migration_has_a_column_per_counter() -> None:
    sql = (Path(__file__).parents[3] / "services/hq/migrations/0002_read_model.sql").read_text()
    table = sql[sql.index("CREATE TABLE branch_day (") : sql.index("CREATE INDEX branch_day_by_branch")]
    columns = re.findall(r"^\s+([a-z0-9_]+)\s+(?:bigint|double precision)", table, re.M)
    later = (Path(__file__).parents[3] / "services/hq/migrations/0005_survey_delivery.sql").read_text()
    columns += re.findall(r"ADD COLUMN ([a-z0-9_]+)\s+(?:bigint|double precision)", later)
    assert columns == list(COUNTERS)
    assert all(c in table for c in WAIT_COLUMNS)
