"""The generated public holiday calendars: known days pinned, deadlines across them, the importer.

The shipped files (``shared/sla/public_holidays/*.toml``) are what services and replays read; these
tests pin days everyone can check against the official announcements.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.complaint.regclocks import is_business_day, nth_business_day_after
from services.complaint.regulation import Regulation, branch_calendar_name
from shared.sla import calendar_import, public_days
from shared.sla.policy import DEFAULT_FILE, PolicyBook
from shared.sla.public_days import PublicDays

BOOK = PolicyBook.load(DEFAULT_FILE)
CN = BOOK.calendars["default"]
GB = BOOK.calendars["gb-eng"]
US = BOOK.calendars["us-federal"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = frozenset(range(5))


def sh(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI).astimezone(UTC)


def test_cn_adjusted_working_sunday_is_open_with_workday_hours() -> None:
    sunday = date(2026, 9, 20)  # worked for National Day 2026 (国务院办公厅通知, 2025-11)
    assert sunday.weekday() == 6
    assert sunday in CN.extra_working_days and sunday not in CN.holidays
    assert CN.day_hours(sunday) == CN.day_hours(date(2026, 9, 21))  # a Monday's hours
    assert CN.is_open(sh(2026, 9, 20, 10))
    assert not CN.is_open(sh(2026, 9, 13, 10))  # an ordinary Sunday


def test_cn_spring_festival_and_national_day_are_closed() -> None:
    for day in (date(2026, 2, 17), date(2025, 1, 29), date(2026, 10, 1), date(2026, 10, 3)):
        assert day in CN.holidays
        assert not CN.is_open(sh(day.year, day.month, day.day, 10))
    # the 2004 data opens the file, the library's last year closes it
    cn = public_days.load("cn")
    assert cn.holidays[date(2026, 2, 17)] == "春节 Spring Festival"
    assert cn.last_day is not None and cn.last_day >= date(2026, 12, 31)


def test_england_boxing_day_substitute() -> None:
    gb = public_days.load("gb-eng")
    assert date(2020, 12, 26).weekday() == 5  # Boxing Day on a Saturday …
    assert gb.holidays[date(2020, 12, 28)] == "Boxing Day (observed)"  # … substitute Monday 28th
    assert date(2020, 12, 28) in GB.holidays
    assert date(2027, 12, 28) in GB.holidays  # 2027: Christmas Sat, Boxing Day Sun → Mon 27, Tue 28
    assert date(2022, 9, 19) in GB.holidays  # one-off: the Queen's state funeral
    assert date(2026, 9, 20) not in GB.extra_working_days  # no 调休 outside China


def test_us_observed_federal_holiday() -> None:
    us = public_days.load("us-federal")
    assert date(2026, 7, 4).weekday() == 5  # Independence Day 2026 on a Saturday …
    assert us.holidays[date(2026, 7, 3)] == "Independence Day (observed)"  # … observed Friday
    assert date(2021, 6, 18) in US.holidays  # Juneteenth (observed), its first year
    assert US.timezone == "America/New_York"


def test_business_time_across_national_day_and_its_adjusted_saturday() -> None:
    # Wed 30 Sep 2026 16:00 + 2 open hours: 1 h that day, 1–7 Oct closed (incl. the weekend),
    # Thu 8 Oct 09:00-10:00
    assert CN.add_open_time(sh(2026, 9, 30, 16), timedelta(hours=2)) == sh(2026, 10, 8, 10)
    # Fri 9 Oct 16:00 + 9 h: 1 h Friday, then Sat 10 Oct is a 调休 working day with a full
    # weekday (09:00-17:00), not the Saturday morning: due Sat 17:00 … 1 h more → Mon 12 Oct 10:00
    assert CN.add_open_time(sh(2026, 10, 9, 16), timedelta(hours=9)) == sh(2026, 10, 10, 17)
    assert CN.add_open_time(sh(2026, 10, 9, 16), timedelta(hours=10)) == sh(2026, 10, 12, 10)


def test_business_days_across_national_day_count_the_adjusted_saturday() -> None:
    # received Mon 28 Sep 2026: business days 29, 30 Sep; 1-7 Oct closed; 8, 9 Oct; Sat 10 Oct (调休)
    assert is_business_day(date(2026, 10, 10), CN, WEEKDAYS)
    assert not is_business_day(date(2026, 10, 5), CN, WEEKDAYS)  # a Monday in the holiday
    assert nth_business_day_after(sh(2026, 9, 28, 10), 5, CN, WEEKDAYS) == date(2026, 10, 10)
    assert nth_business_day_after(sh(2026, 9, 28, 10), 6, CN, WEEKDAYS) == date(2026, 10, 12)


def test_uk_fca_branch_without_own_calendar_counts_england_bank_holidays() -> None:
    regulation = Regulation.load(BOOK, branch_profiles={"uk-*": "uk-fca", "us-*": "us-cfpb"})
    uk = regulation.profile_for_branch("uk-bristol-7")
    assert branch_calendar_name(BOOK, "uk-bristol-7", uk) == "gb-eng"
    assert branch_calendar_name(BOOK, "us-ohio-1", regulation.profile_for_branch("us-ohio-1")) == (
        "us-federal"
    )
    assert branch_calendar_name(BOOK, "cn-001", regulation.profile_for_branch("cn-001")) == "default"
    # payment services, received Mon 14 Dec 2026: 15 business days skip Christmas (Fri 25),
    # Boxing Day's substitute (Mon 28) and New Year's Day (Fri 1 Jan 2027): 15-18, 21-24, 29-31 Dec,
    # 4-7 Jan
    london = ZoneInfo("Europe/London")
    received = datetime(2026, 12, 14, 10, tzinfo=london).astimezone(UTC)
    assert nth_business_day_after(received, 15, GB, uk.business_weekdays) == date(2027, 1, 7)


# ------------------------------------------------------------------------------------ importer


def test_the_libraries_say_what_the_committed_files_say_for_the_pinned_days() -> None:
    pytest.importorskip("chinese_calendar")
    pytest.importorskip("holidays")
    cn = calendar_import.SOURCES["cn"].generate()
    assert date(2026, 9, 20) in cn.working_days and date(2026, 2, 17) in cn.holidays
    gb = calendar_import.SOURCES["gb-eng"].generate()
    assert gb.holidays[date(2020, 12, 28)] == "Boxing Day (observed)"
    us = calendar_import.SOURCES["us-federal"].generate()
    assert us.holidays[date(2026, 7, 3)] == "Independence Day (observed)"
    assert us.source["last_year"] == calendar_import.RULE_LAST_YEAR


def test_an_import_never_changes_a_past_day() -> None:
    today = date(2026, 6, 1)
    old = PublicDays(
        "x",
        {date(2026, 1, 2): "kept as it was", date(2026, 7, 1): "dropped upstream"},
        {date(2026, 1, 4): "past working day"},
        {"library": "lib", "version": "1", "first_year": 2020, "last_year": 2026},
    )
    new = PublicDays(
        "x",
        {date(2026, 1, 3): "library's new idea of the past", date(2027, 1, 1): "new year"},
        {},
        {"library": "lib", "version": "2", "first_year": 2026, "last_year": 2027},
    )
    merged, future, past = calendar_import.merge(old, new, today)
    assert merged.holidays == {date(2026, 1, 2): "kept as it was", date(2027, 1, 1): "new year"}
    assert merged.working_days == {date(2026, 1, 4): "past working day"}
    assert merged.source["first_year"] == 2020 and merged.source["last_year"] == 2027
    assert future == ["- 2026-07-01 holiday: dropped upstream", "+ 2027-01-01 holiday: new year"]
    assert len(past) == 3  # reported, not applied


def test_render_reads_back_and_a_second_import_changes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("chinese_calendar")
    out = io.StringIO()
    first = calendar_import.import_calendars(["cn"], tmp_path, today=date(2026, 6, 1), out=out)
    assert first[0].created and "[1/1] cn" in out.getvalue()
    written = public_days.read("cn", tmp_path / "cn.toml")
    assert written.holidays == first[0].merged.holidays
    assert written.working_days == first[0].merged.working_days
    again = calendar_import.import_calendar("cn", tmp_path, today=date(2026, 7, 1))
    assert not again.changed and not again.future_changes
    assert calendar_import.main(["cn", "--check", "--dir", str(tmp_path)]) == 0


def test_policy_file_of_a_bank_may_carry_its_own_public_holidays(tmp_path: Path) -> None:
    (tmp_path / "public_holidays").mkdir()
    (tmp_path / "public_holidays" / "cn.toml").write_text(
        '[source]\nlibrary = "own"\n[holidays]\n2030-01-02 = "own closure"\n', encoding="utf-8"
    )
    policy = tmp_path / "policies.toml"
    policy.write_text('[calendars.default]\ntimezone = "Asia/Shanghai"\npublic_holidays = "cn"\n')
    assert PolicyBook.load(policy).calendars["default"].holidays == frozenset({date(2030, 1, 2)})
    policy.write_text('[calendars.default]\npublic_holidays = "nowhere"\n')
    with pytest.raises(ValueError, match="calendar_import"):
        PolicyBook.load(policy)
