"""The regulatory complaint report: totals, shares, handling distribution and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from services.hq.report import (
    CSV_COLUMNS,
    HANDLING_BUCKETS,
    MEASURES,
    build,
    parse_dimensions,
    to_csv,
    totals,
)


def row(category: str, nature: str, channel: str, **values: float) -> dict[str, Any]:
    out: dict[str, Any] = {"category": category, "nature": nature, "channel": channel}
    out.update({m.name: 0 for m in MEASURES})
    out.update(values)
    return out


ROWS = [
    row(
        "waiting_time",
        "general",
        "in_branch",
        received=8,
        decided=6,
        pending=2,
        closed=5,
        decided_within_15d=5,
        decided_within_30d=6,
        decided_within_60d=6,
        handling_seconds_sum=6 * 2 * 86400,
        handled_le_1d=2,
        handled_le_3d=3,
        handled_le_30d=1,
        fcr=4,
    ),
    row(
        "system_failure",
        "major",
        "phone_hotline",
        received=2,
        decided=2,
        closed=2,
        decided_within_15d=1,
        decided_within_30d=2,
        decided_within_60d=2,
        handling_seconds_sum=20 * 86400,
        handled_le_15d=1,
        handled_le_30d=1,
        extended=1,
    ),
]


def test_totals_are_sums_and_shares_come_from_the_sums() -> None:
    t = totals(ROWS)
    assert t["category"] == "ALL" and t["received"] == 10 and t["decided"] == 8 and t["pending"] == 2
    assert t["share_decided_within_15d"] == 0.6 and t["share_decided_within_30d"] == 0.8
    assert t["share_fcr"] == 4 / 7 and t["extended"] == 1
    assert t["avg_handling_days"] == (12 + 20) / 8


def test_report_has_the_distribution_and_a_rate_per_1000_branches() -> None:
    report = build(ROWS, first=date(2026, 3, 1), last=date(2026, 3, 31), branches=2500)
    assert report["complaints_per_1000_branches"] == 4.0
    assert report["handling_time_distribution"] == {
        **{name: 0 for name, _ in HANDLING_BUCKETS},
        "handled_le_1d": 2,
        "handled_le_3d": 3,
        "handled_le_15d": 1,
        "handled_le_30d": 2,
        "pending": 2,
    }
    assert report["rows"][0]["share_decided_within_15d"] == 5 / 8
    assert (
        build([], first=date(2026, 3, 1), last=date(2026, 3, 1), branches=0)["totals"]["share_decided"]
        is None
    )


def test_csv_has_one_line_per_row_and_a_totals_line() -> None:
    text = to_csv(build(ROWS, first=date(2026, 3, 1), last=date(2026, 3, 31), branches=2))
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert [r[:3] for r in table[1:]] == [
        ["waiting_time", "general", "in_branch"],
        ["system_failure", "major", "phone_hotline"],
        ["ALL", "ALL", "ALL"],
    ]
    last = dict(zip(table[0], table[-1], strict=True))
    assert last["received"] == "10" and last["share_decided_within_15d"] == "0.6"
    assert last["avg_handling_days"] == "4" and last["handling_seconds_sum"] == str(32 * 86400)
    empty = dict(
        zip(
            table[0],
            list(
                csv.reader(
                    io.StringIO(to_csv(build([], first=date(2026, 3, 1), last=date(2026, 3, 1), branches=0)))
                )
            )[-1],
            strict=True,
        )
    )
    assert empty["share_decided"] == "" and empty["received"] == "0"


def test_other_breakdowns_are_chosen_with_by() -> None:
    assert parse_dimensions(None) == ("category", "nature", "channel")
    assert parse_dimensions("cause_code, business_type") == ("cause_code", "business_type")
    for bad in ("category,category", "colour", ","):
        with pytest.raises(ValueError):
            parse_dimensions(bad)
    rows = [{"cause_code": "A01", **{m.name: 0 for m in MEASURES}, "received": 3}]
    text = to_csv(
        build(rows, first=date(2026, 3, 1), last=date(2026, 3, 1), branches=1, dimensions=("cause_code",))
    )
    assert text.splitlines()[0].startswith("cause_code,received,") and text.splitlines()[-1].startswith(
        "ALL,3,"
    )
