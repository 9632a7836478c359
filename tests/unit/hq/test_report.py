"""The regulatory complaint report's arithmetic: totals, shares, rates, distribution, code tables,
sections and the CSV — pure, from rows as the SQL returns them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.hq.config import CodeTables
from services.hq.report import (
    CSV_COLUMNS,
    HANDLING_BUCKETS,
    MEASURES,
    SECTIONS,
    build,
    parse_dimensions,
    parse_section,
    select,
    totals,
)
from services.hq.report_csv import parse_csv_sections, to_csv
from services.hq.report_queries import grouping_mask

DAY = 86400
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
CODES = CodeTables(
    {
        "cn-2020": {
            "business_types": {"deposits": "储蓄存款 deposits", "credit_card": "信用卡 credit cards"},
            "causes": {"pricing_fees": "定价收费 pricing and fees"},
        },
        "uk-fca": {"business_types": {"payment_services": "Payment services"}, "causes": {}},
    },
    "cn-2020",
)


def row(dims: dict[str, Any], **values: float) -> dict[str, Any]:
    out: dict[str, Any] = dict(dims)
    out.update({m.name: 0 for m in MEASURES})
    out.update(values)
    return out


def cnc(category: str, nature: str, channel: str, **values: float) -> dict[str, Any]:
    return row({"category": category, "nature": nature, "channel": channel}, **values)


ROWS = [
    cnc(
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
        decided_within_limit=6,
        handling_days_sum=12,
        handled_le_1d=2,
        handled_le_3d=3,
        handled_le_30d=1,
        fcr=4,
    ),
    cnc(
        "system_failure",
        "major",
        "phone_hotline",
        received=2,
        decided=2,
        closed=2,
        decided_within_15d=1,
        decided_within_30d=1,
        decided_within_60d=2,
        decided_within_limit=1,
        decided_after_limit=1,
        handling_days_sum=20 + 37,
        handled_le_15d=1,
        handled_le_60d=1,
        extended=1,
        extensions_requested=3,
        extensions_approved=1,
        extensions_denied=1,
        reviewed=1,
        reviews_requested=2,
        reviews_decided=1,
        review_decision_changed=1,
        reviews_decided_within_limit=1,
    ),
]
CLASSIFIED = {
    "by_channel": [
        row({"channel": "in_branch"}, received=8, decided=6),
        row({"channel": "phone_hotline"}, received=2, decided=2),
    ],
    "by_business_type": [
        row({"regulatory_profile": "cn-2020", "business_type": "credit_card"}, received=5),
        row({"regulatory_profile": "cn-2020", "business_type": "gold_bars"}, received=2),
        row({"regulatory_profile": "uk-fca", "business_type": "payment_services"}, received=1),
        row({"regulatory_profile": None, "business_type": "deposits"}, received=1),  # before profiles
        row({"regulatory_profile": "cn-2020", "business_type": None}, received=1),
    ],
    "by_cause_code": [
        row({"regulatory_profile": "cn-2020", "cause_code": "pricing_fees"}, received=4),
        row({"regulatory_profile": "uk-fca", "cause_code": "pricing_fees"}, received=1),  # not a uk-fca code
        row({"regulatory_profile": "cn-2020", "cause_code": None}, received=5),
    ],
}
REMEDIATION = {
    "actions": 3,
    "completed": 1,
    "completed_on_time": 1,
    "open": 2,
    "overdue": 1,
    "open_not_yet_due": 1,
}
OVERDUE = [
    {
        "task_id": "t1",
        "complaint_id": "c1",
        "branch_id": "b1",
        "action_id": "a1",
        "owner": "ops-1",
        "due_at": datetime(2026, 3, 20, tzinfo=UTC),
        "days_overdue": 12.0,
    }
]


def full() -> dict[str, Any]:
    return build(
        ROWS,
        first=FIRST,
        last=LAST,
        branches=2500,
        customers=40_000_000,
        classifications=CLASSIFIED,
        codes=CODES,
        remediation=REMEDIATION,
        overdue_actions=OVERDUE,
        as_of=AS_OF,
        region=None,
    )


def test_totals_are_sums_and_shares_come_from_the_sums() -> None:
    t = totals(ROWS)
    assert t["category"] == "ALL" and t["received"] == 10 and t["decided"] == 8 and t["pending"] == 2
    assert t["share_decided_within_15d"] == 0.6 and t["share_decided_within_30d"] == 0.7
    assert t["share_decided_within_60d"] == 0.8
    assert t["share_of_decided_within_15d"] == 6 / 8 and t["share_of_decided_within_60d"] == 1.0
    assert t["share_decided_within_limit"] == 7 / 8 and t["decided_after_limit"] == 1
    assert t["share_fcr"] == 4 / 7 and t["extended"] == 1
    assert t["avg_handling_days"] == (12 + 57) / 8
    assert (t["extensions_requested"], t["extensions_pending"], t["reviews_pending"]) == (3, 1, 1)


def test_rates_per_1000_branches_and_per_10_million_customers() -> None:
    report = full()
    assert report["complaints_per_1000_branches"] == 10 * 1000 / 2500 == 4.0
    assert report["complaints_per_10m_customers"] == 10 * 10_000_000 / 40_000_000 == 2.5
    empty = build([], first=FIRST, last=FIRST, branches=0)
    assert empty["complaints_per_1000_branches"] is None and empty["complaints_per_10m_customers"] is None
    assert empty["totals"]["share_decided"] is None and empty["totals"]["avg_handling_days"] is None


def test_the_handling_time_distribution_adds_up_to_the_decided() -> None:
    report = full()
    dist = report["handling_time_distribution"]
    assert dist == {
        **{name: 0 for name, _ in HANDLING_BUCKETS},
        "handled_le_1d": 2,
        "handled_le_3d": 3,
        "handled_le_15d": 1,
        "handled_le_30d": 1,
        "handled_le_60d": 1,
        "pending": 2,
    }
    buckets = report["handling_time"]
    assert [b["bucket"] for b in buckets] == [n for n, _ in HANDLING_BUCKETS] + ["pending"]
    assert sum(b["complaints"] for b in buckets[:-1]) == report["totals"]["decided"]
    assert (buckets[3]["from_days"], buckets[3]["to_days"], buckets[3]["share_of_decided"]) == (7, 15, 1 / 8)
    # within 15 days = the buckets up to 15 days (the SQL counts both from the same decision days)
    assert sum(b["complaints"] for b in buckets[:4]) == report["totals"]["decided_within_15d"] == 6


def test_codes_are_labelled_from_the_case_profile_and_unknown_ones_reported_as_such() -> None:
    report = full()
    by_type = {(r["regulatory_profile"], r["business_type"]): r for r in report["by_business_type"]}
    assert by_type[("cn-2020", "credit_card")]["label"] == "信用卡 credit cards"
    assert by_type[("cn-2020", "credit_card")]["code_status"] == "known"
    assert by_type[("cn-2020", "gold_bars")]["code_status"] == "unknown"
    assert by_type[("cn-2020", "gold_bars")]["label"] is None
    assert by_type[("uk-fca", "payment_services")]["code_status"] == "known"
    assert by_type[(None, "deposits")]["code_status"] == "known"  # the default profile's table
    assert by_type[("cn-2020", None)]["code_status"] == "unspecified"
    assert by_type[("ALL", "ALL")]["received"] == 10 == report["totals"]["received"]
    causes = {(r["regulatory_profile"], r["cause_code"]): r["code_status"] for r in report["by_cause_code"]}
    assert causes[("uk-fca", "pricing_fees")] == "unknown" and causes[("cn-2020", "pricing_fees")] == "known"
    s = report["summary"]
    assert (s["business_type_unknown"], s["business_type_unspecified"]) == (2, 1)
    assert (s["cause_code_unknown"], s["cause_code_unspecified"]) == (1, 5)
    channels = {r["channel"]: r["received"] for r in report["by_channel"]}
    assert channels == {"in_branch": 8, "phone_hotline": 2, "ALL": 10}


def test_the_summary_answers_the_regulator_questions() -> None:
    report = full()
    s = report["summary"]
    assert (s["received"], s["decided"], s["pending"]) == (10, 8, 2)
    assert (s["decided_within_15d"], s["decided_within_30d"], s["decided_within_60d"]) == (6, 7, 8)
    assert s["complaints_per_1000_branches"] == 4.0 and s["complaints_per_10m_customers"] == 2.5
    assert (s["extensions_requested"], s["extensions_approved"], s["extensions_denied"]) == (3, 1, 1)
    assert s["extensions_pending"] == 1 and s["extended"] == 1 and s["reviewed"] == 1
    assert (s["reviews_requested"], s["reviews_decided"], s["reviews_pending"]) == (2, 1, 1)
    assert (s["review_decision_changed"], s["review_original_upheld"]) == (1, 0)
    assert all(report["definitions"].get(k) for k in s), [k for k in s if not report["definitions"].get(k)]
    assert (s["remediation_actions"], s["remediation_open"], s["remediation_overdue"]) == (3, 2, 1)
    assert s["remediation_cancelled"] == 0 and s["remediation_completed_late"] == 0
    assert report["extensions"] == {
        "complaints_extended": 1,
        "requested": 3,
        "approved": 1,
        "denied": 1,
        "pending": 1,
    }
    assert report["reviews"]["decision_changed"] == 1 and report["reviews"]["decided_within_limit"] == 1
    assert report["overdue_actions"][0]["owner"] == "ops-1" and report["as_of"] == AS_OF


def test_one_csv_holds_every_section_and_section_gives_one_plain_table() -> None:
    report = full()
    text = to_csv(report)
    assert text.startswith("# BranchCare complaint report: received 2026-03-01 to 2026-03-31")
    sections = parse_csv_sections(text)
    assert list(sections) == list(SECTIONS)
    summary = {r["metric"]: r["value"] for r in sections["summary"]}
    assert summary["received"] == "10" and summary["share_decided_within_15d"] == "0.6"
    assert summary["complaints_per_10m_customers"] == "2.5" and summary["remediation_overdue"] == "1"
    assert sections["rows"][-1]["category"] == "ALL" and sections["rows"][-1]["received"] == "10"
    types = {r["business_type"]: r["code_status"] for r in sections["by_business_type"]}
    assert types["gold_bars"] == "unknown" and types[""] == "unspecified"
    assert [r["bucket"] for r in sections["handling_time"]][-1] == "pending"
    assert {r["status"]: r["actions"] for r in sections["remediation"]}["overdue"] == "1"
    assert sections["overdue_actions"][0]["due_at"] == "2026-03-20T00:00:00Z"

    table = list(csv.reader(io.StringIO(to_csv(report, "rows"))))
    assert tuple(table[0]) == CSV_COLUMNS
    assert [r[:3] for r in table[1:]] == [
        ["waiting_time", "general", "in_branch"],
        ["system_failure", "major", "phone_hotline"],
        ["ALL", "ALL", "ALL"],
    ]
    last = dict(zip(table[0], table[-1], strict=True))
    assert last["avg_handling_days"] == "8.625" and last["handling_days_sum"] == "69"
    empty = list(csv.DictReader(io.StringIO(to_csv(build([], first=FIRST, last=FIRST, branches=0), "rows"))))
    assert empty[-1]["share_decided"] == "" and empty[-1]["received"] == "0"


def test_json_section_selection_keeps_the_header() -> None:
    report = full()
    assert select(report, None) == report
    only = select(report, "remediation")
    assert set(only) == {
        "from",
        "to",
        "as_of",
        "dimensions",
        "region",
        "branches",
        "customers",
        "complaints_per_1000_branches",
        "complaints_per_10m_customers",
        "remediation",
    }
    assert "totals" in select(report, "rows")
    assert parse_section(None) is None and parse_section("by_cause_code") == "by_cause_code"
    with pytest.raises(ValueError):
        parse_section("everything")


def test_other_breakdowns_are_chosen_with_by() -> None:
    assert parse_dimensions(None) == ("category", "nature", "channel")
    assert parse_dimensions("cause_code, business_type") == ("cause_code", "business_type")
    for bad in ("category,category", "colour", ","):
        with pytest.raises(ValueError):
            parse_dimensions(bad)
    rows = [row({"cause_code": None}, received=3)]
    report = build(rows, first=FIRST, last=FIRST, branches=1, dimensions=("cause_code",))
    assert report["rows"][0]["cause_code"] == "unspecified"
    text = to_csv(report, "rows")
    assert text.splitlines()[0].startswith("cause_code,received,")
    assert text.splitlines()[1].startswith("unspecified,3,") and text.splitlines()[-1].startswith("ALL,3,")


def test_grouping_masks_match_postgres_grouping() -> None:
    columns = ["category", "nature", "channel", "regulatory_profile", "business_type"]
    assert grouping_mask(columns, ["category", "nature", "channel"]) == 0b00011
    assert grouping_mask(columns, ["channel"]) == 0b11011
    assert grouping_mask(columns, ["regulatory_profile", "business_type"]) == 0b11100
