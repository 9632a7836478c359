"""The report's data files: customers per branch, and the regulatory profiles' code tables (the same
tables the complaint service validates codes against)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.complaint.regulation import PROFILES_DIR, load_profiles
from services.hq.config import (
    DEFAULT_PROFILES_DIR,
    CodeTables,
    CustomerCounts,
    HqConfig,
    ReportDataError,
    load_config,
    report_data,
)


def test_customers_per_branch_explicit_then_longest_prefix_then_default() -> None:
    counts = CustomerCounts.from_dict(
        {
            "default_customers": 1000,
            "branches": {"sh-001": 5},
            "prefix": [{"prefix": "sh-", "customers": 50}, {"prefix": "sh-pd-", "customers": 70}],
        }
    )
    assert counts.of("sh-001") == 5 and counts.of("sh-pd-9") == 70 and counts.of("sh-9") == 50
    assert counts.of("gz-1") == 1000
    assert counts.total(["sh-001", "sh-9", "gz-1"]) == 1055 and counts.total([]) == 0


@pytest.mark.parametrize(
    "doc",
    [
        {"default_customers": -1},
        {"branches": {"b1": "many"}},
        {"branches": {"b1": True}},
        {"prefix": [{"prefix": "x", "customers": 1.5}]},
        {"colour": 1},
    ],
)
def test_a_bad_customers_file_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ReportDataError):
        CustomerCounts.from_dict(doc)


def test_the_code_tables_are_the_complaint_profiles_tables() -> None:
    assert DEFAULT_PROFILES_DIR == PROFILES_DIR.resolve()
    codes = CodeTables.load(DEFAULT_PROFILES_DIR)
    profiles = load_profiles(PROFILES_DIR)
    assert set(codes.tables) == set(profiles) >= {"cn-2020", "uk-fca", "us-cfpb"}
    for name, profile in profiles.items():
        assert codes.tables[name] == {t: dict(v) for t, v in profile.codes.items()}
    assert codes.lookup("cn-2020", "cause_code", "pricing_fees") == ("known", "定价收费 pricing and fees")
    assert codes.lookup("us-cfpb", "business_type", "deposits") == ("unknown", None)
    assert codes.lookup(None, "business_type", "deposits")[0] == "known"  # default profile: cn-2020
    assert codes.lookup("cn-2020", "business_type", None) == ("unspecified", None)
    assert codes.lookup("retired-profile", "cause_code", "x") == ("unknown", None)


def test_missing_or_bad_data_files_are_refused_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ReportDataError):
        CodeTables.load(tmp_path)
    with pytest.raises(ReportDataError):
        CodeTables.load(DEFAULT_PROFILES_DIR, default_profile="xx-1999")
    customers, codes = report_data(HqConfig())
    assert customers.of("b001") == 120000 and customers.default == 50000 and "cn-2020" in codes.tables
    monkeypatch.setenv("HQ_CUSTOMERS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ReportDataError):
        load_config()
