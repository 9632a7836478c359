"""Numbers, percentages, durations and times on the console pages come from Babel, per language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.console import formats

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh", ["4:05", "2小时05分钟", "3天4小时", "95.5%", "1,234,567", "3.26", "12,346", "2026年3月2日"]),
        ("en", ["4:05", "2h 05m", "3d 4h", "95.5%", "1,234,567", "3.26", "12,346", "Mar 2, 2026"]),
    ],
)
def test_each_language_formats_the_cldr_way(lang: str, expected: list[str]) -> None:
    got = [
        formats.duration(245, lang),
        formats.duration(7500, lang),
        formats.duration(3 * 86400 + 4 * 3600, lang),
        formats.percent(0.9551, lang),
        formats.number(1_234_567, lang),
        formats.number(3.256, lang),
        formats.number(12_345.6, lang),
        formats.day(date(2026, 3, 2), lang),
    ]
    assert got == expected


def test_missing_values_show_a_dash_never_zero() -> None:
    assert formats.percent(None, "zh") == formats.number(None, "en") == formats.duration(None, "zh") == "—"
    assert formats.percent(float("nan"), "en") == "—"
    assert formats.percent(0.5, "en", digits=0) == "50%"


def test_times_are_shown_in_the_branch_time_zone_with_the_template_pattern() -> None:
    at = datetime(2026, 3, 2, 1, 5, 9, tzinfo=UTC)
    assert formats.moment(at, SHANGHAI, "zh") == "03-02 09:05"
    assert formats.moment(at, SHANGHAI, "en", "%m-%d %H:%M:%S") == "03-02 09:05:09"
    assert formats.moment(at, ZoneInfo("Europe/London"), "en", "%Y-%m-%d %H:%M") == "2026-03-02 01:05"
    assert formats.moment(None, SHANGHAI, "zh") == "—"
