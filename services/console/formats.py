"""Numbers, percentages, times and durations for people, in the page's language (Babel, CLDR data).

``zh`` pages format as ``zh_CN``, ``en`` pages as ``en``. A missing value shows as "—", never as 0.
Durations under an hour read like a stopwatch (``4:05``, what a lobby manager glances at); longer
ones name their units the locale's way (``2h 05m`` / ``2小时05分钟``, ``3d 4h`` / ``3天4小时``).
Times are shown in the branch's time zone with a fixed pattern, so columns line up.
"""

from __future__ import annotations

import math
from datetime import date, datetime, tzinfo
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

LOCALES: dict[str, str] = {"zh": "zh_CN", "en": "en"}
MISSING = "—"
#: the strftime codes the templates use, as CLDR pattern letters
_STRFTIME_TO_CLDR = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss"}


def locale(lang: str) -> Locale:
    return Locale.parse(LOCALES.get(lang, LOCALES["en"]))


def _missing(value: Any) -> bool:
    if value is None or type(value).__name__ in ("Undefined", "StrictUndefined"):
        return True
    return isinstance(value, float) and math.isnan(value)


def number(value: Any, lang: str) -> str:
    """``1,234``; a fraction with up to two decimals below 1,000 (``3.25``), none above."""
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int):
        return format_decimal(value, format="#,##0", locale=locale(lang))
    if isinstance(value, float):
        pattern = "#,##0.##" if abs(value) < 1000 else "#,##0"
        return format_decimal(value, format=pattern, locale=locale(lang))
    return str(value)


def percent(value: Any, lang: str, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals: ``0.955`` → ``95.5%``."""
    if _missing(value):
        return MISSING
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return format_percent(float(value), format=pattern, locale=locale(lang))


def duration(seconds: Any, lang: str) -> str:
    """``4:05`` under an hour; else hours and minutes, or days and hours, in the locale's units."""
    if _missing(seconds):
        return MISSING
    s = abs(round(float(seconds)))
    if s < 3600:
        return f"{s // 60}:{s % 60:02d}"
    loc = locale(lang)
    if s < 86400:
        h, m = divmod(s // 60, 60)
        parts = [_unit(h, "duration-hour", loc), _unit(m, "duration-minute", loc, pad=True)]
    else:
        d, h = divmod(s // 3600, 24)
        parts = [_unit(d, "duration-day", loc), _unit(h, "duration-hour", loc)]
    return format_list(parts, style="unit-narrow", locale=loc)


def _unit(value: int, unit: str, loc: Locale, pad: bool = False) -> str:
    text = format_unit(value, unit, length="narrow", locale=loc, format="00" if pad else "0")
    return str(text)


def moment(value: datetime | None, tz: tzinfo, lang: str, pattern: str = "%m-%d %H:%M") -> str:
    """A time in ``tz`` with a strftime-style ``pattern`` (the templates' own), via Babel."""
    if value is None:
        return MISSING
    cldr = pattern
    for code, letters in _STRFTIME_TO_CLDR.items():
        cldr = cldr.replace(code, letters)
    return format_datetime(value, format=cldr, tzinfo=tz, locale=locale(lang))


def day(value: date | None, lang: str) -> str:
    """A day the locale's way: ``2026年3月2日`` / ``Mar 2, 2026``."""
    return MISSING if value is None else format_date(value, format="medium", locale=locale(lang))
