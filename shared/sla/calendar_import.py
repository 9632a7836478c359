"""Import public holiday calendars from maintained libraries into the audited TOML the SLA clock reads.

``python -m shared.sla.calendar_import [NAME ...] [--check] [--dir DIR]`` (later ``branchcare
calendar import``) writes ``shared/sla/public_holidays/<name>.toml`` for

- ``cn`` — ``chinesecalendar``: the State Council's public holidays *and* the weekend days worked
  instead (调休), every year the library has data for (it ends with the last year published, so run
  the import again when the next year's arrangement is announced, usually in November);
- ``gb-eng`` — ``holidays``: bank holidays of England and Wales, with substitute days (e.g. Boxing
  Day moved to Monday 28 December 2020) and one-off days (jubilees, state funerals);
- ``us-federal`` — ``holidays``: US federal holidays, with observed days (a Saturday holiday is
  observed on the Friday before, a Sunday one on the Monday after).

The rule-based ``holidays`` library can compute any year up to 2100; we import
:data:`FIRST_YEAR`–:data:`RULE_LAST_YEAR` so the files stay reviewable and the same range on
every machine.

The committed files, not the libraries, are what the services and replays read. An import never
changes a day before the import date: past days are kept exactly as the file had them (a library
that later corrects history is reported, not applied), so recomputing an old case's deadline gives
the answer it had. Future days follow the library, and the diff is the review. Only this importer
needs the libraries; they are the optional dependency group ``calendars`` (also in ``dev``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from shared.sla import public_days
from shared.sla.public_days import PublicDays

#: first year imported (the first year chinesecalendar has data for)
FIRST_YEAR = 2004
#: last year imported from the rule-based ``holidays`` library (it computes up to 2100)
RULE_LAST_YEAR = 2050


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    generate: Callable[[], PublicDays]


def _chinesecalendar() -> PublicDays:
    import chinese_calendar

    def label(english: str) -> str:
        return f"{chinese_calendar.Holiday(english).chinese} {english}"

    holidays = {d: label(n) for d, n in chinese_calendar.holidays.items() if d.year >= FIRST_YEAR}
    working = {
        d: f"{label(n)}: 调休 working day"
        for d, n in chinese_calendar.workdays.items()
        if d.year >= FIRST_YEAR
    }
    years = sorted({d.year for d in holidays})
    return PublicDays(
        "cn",
        holidays,
        working,
        {
            "library": "chinesecalendar",
            "version": chinese_calendar.__version__,
            "region": "CN (State Council public holidays and 调休 working days)",
            "first_year": years[0],
            "last_year": years[-1],
        },
    )


def _holidays_lib(name: str, country: str, subdiv: str | None, region: str) -> PublicDays:
    import holidays

    years = range(FIRST_YEAR, RULE_LAST_YEAR + 1)
    table = holidays.country_holidays(country, subdiv=subdiv, years=years, observed=True)
    return PublicDays(
        name,
        {d: str(n) for d, n in sorted(table.items())},
        {},
        {
            "library": "holidays",
            "version": holidays.__version__,
            "region": region,
            "first_year": years[0],
            "last_year": years[-1],
        },
    )


SOURCES: Mapping[str, Source] = {
    "cn": Source("cn", "China: public holidays and 调休 working days", _chinesecalendar),
    "gb-eng": Source(
        "gb-eng",
        "England and Wales: bank holidays",
        lambda: _holidays_lib("gb-eng", "GB", "ENG", "GB-ENG (England and Wales bank holidays)"),
    ),
    "us-federal": Source(
        "us-federal",
        "United States: federal holidays",
        lambda: _holidays_lib("us-federal", "US", None, "US (federal holidays, observed days)"),
    ),
}


@dataclass(frozen=True)
class ImportResult:
    name: str
    path: Path
    merged: PublicDays
    changed: bool
    #: there was no file before
    created: bool = False
    #: future days added, removed or renamed by this import
    future_changes: list[str] = field(default_factory=list)
    #: past days where the library now disagrees with the file (kept as the file had them)
    past_disagreements: list[str] = field(default_factory=list)


def merge(old: PublicDays | None, new: PublicDays, today: date) -> tuple[PublicDays, list[str], list[str]]:
    """``new`` from ``today`` on, ``old`` before it; the future changes and past disagreements."""
    if old is None:
        return new, [], []
    future: list[str] = []
    past: list[str] = []
    merged: dict[str, dict[date, str]] = {}
    for kind in ("holidays", "working_days"):
        before: Mapping[date, str] = getattr(old, kind)
        after: Mapping[date, str] = getattr(new, kind)
        out = {d: n for d, n in before.items() if d < today}
        out.update({d: n for d, n in after.items() if d >= today})
        merged[kind] = dict(sorted(out.items()))
        for day in sorted(set(before) | set(after)):
            if before.get(day) == after.get(day):
                continue
            line = _change(kind, day, before.get(day), after.get(day))
            (past if day < today else future).append(line)
    source = dict(new.source)
    if old.source.get("first_year"):
        source["first_year"] = min(int(old.source["first_year"]), int(new.source["first_year"]))
    if old.source.get("last_year"):
        source["last_year"] = max(int(old.source["last_year"]), int(new.source["last_year"]))
    result = PublicDays(new.name, merged["holidays"], merged["working_days"], source)
    return result, future, past


def _change(kind: str, day: date, before: str | None, after: str | None) -> str:
    what = "holiday" if kind == "holidays" else "working day"
    if before is None:
        return f"+ {day} {what}: {after}"
    if after is None:
        return f"- {day} {what}: {before}"
    return f"~ {day} {what}: {before} → {after}"


def render(days: PublicDays, imported_on: date) -> str:
    """The TOML file: a header that says how it was made, then one line per day."""
    source = {**days.source, "imported_on": imported_on}
    lines = [
        f"# {days.name}: generated by `python -m shared.sla.calendar_import {days.name}`; do not edit.",
        "# The SLA clock and every replay read this file. A later import never changes a day before",
        "# its import date (deadlines already computed stay as they were); review the diff of future days.",
        "",
        "[source]",
        *(f"{key} = {_value(value)}" for key, value in source.items()),
    ]
    for kind, title in (("holidays", "closed: public holidays"), ("working_days", "open: 调休 working days")):
        table: Mapping[date, str] = getattr(days, kind)
        lines += ["", f"# {title}", f"[{kind}]"]
        year = None
        for day, label in sorted(table.items()):
            if day.year != year:
                year = day.year
                lines.append(f"# {year}")
            lines.append(f"{day.isoformat()} = {_value(label)}")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, int | date):
        return value.isoformat() if isinstance(value, date) else str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _comparable(days: PublicDays) -> tuple[Any, ...]:
    source = {k: v for k, v in days.source.items() if k != "imported_on"}
    return dict(days.holidays), dict(days.working_days), source


def import_calendar(
    name: str, directory: Path = public_days.SHIPPED_DIR, *, today: date | None = None, write: bool = True
) -> ImportResult:
    """Generate calendar ``name`` from its library and merge it into ``directory/<name>.toml``."""
    if name not in SOURCES:
        raise ValueError(f"unknown calendar {name!r} (known: {', '.join(SOURCES)})")
    today = today or datetime.now(UTC).date()
    path = directory / f"{name}.toml"
    old = public_days.read(name, path) if path.is_file() else None
    generated = SOURCES[name].generate()
    merged, future, past = merge(old, generated, today)
    changed = old is None or _comparable(old) != _comparable(merged)
    if write and changed:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(render(merged, today), encoding="utf-8")
    return ImportResult(name, path, merged, changed, old is None, future, past)


def import_calendars(
    names: Sequence[str] = (),
    directory: Path = public_days.SHIPPED_DIR,
    *,
    today: date | None = None,
    write: bool = True,
    out: Any = None,
) -> list[ImportResult]:
    """Import every calendar in ``names`` (all when empty), printing a progress line per calendar."""
    out = out or sys.stdout
    results = []
    chosen = list(names) or list(SOURCES)
    for i, name in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {name}: {SOURCES[name].title} …", file=out, flush=True)
        results.append(import_calendar(name, directory, today=today, write=write))
    return results


def summary(results: Sequence[ImportResult], *, write: bool) -> str:
    head = f"{'calendar':<11} {'library':<22} {'years':<10} {'holidays':>8} {'调休 days':>9}  result"
    rows = [head, "-" * len(head)]
    for r in results:
        src = r.merged.source
        verdict = ("written" if write else "would change") if r.changed else "unchanged"
        if r.created:
            verdict = "created" if write else "missing"
        rows.append(
            f"{r.name:<11} {src['library'] + ' ' + src['version']:<22} "
            f"{str(src['first_year']) + '-' + str(src['last_year']):<10} {len(r.merged.holidays):>8} "
            f"{len(r.merged.working_days):>9}  {verdict}"
        )
    for r in results:
        if r.future_changes and r.changed:
            rows.append(f"\n{r.name}: {len(r.future_changes)} future day(s) changed:")
            rows += [f"  {line}" for line in r.future_changes[:20]]
            if len(r.future_changes) > 20:
                rows.append(f"  … and {len(r.future_changes) - 20} more (see the diff of {r.path})")
        if r.past_disagreements:
            rows.append(
                f"\n{r.name}: the library now disagrees on {len(r.past_disagreements)} past day(s); "
                "kept as the file had them (past deadlines do not move):"
            )
            rows += [f"  {line}" for line in r.past_disagreements[:20]]
    return "\n".join(rows)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The arguments of the import (shared with the operator CLI's ``calendar import``)."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m shared.sla.calendar_import",
        description="Generate the public holiday calendars the SLA clock reads from maintained libraries.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"{', '.join(SOURCES)} (default: all)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    parser.add_argument("--dir", type=Path, default=public_days.SHIPPED_DIR, help="folder of the files")
    return parser


def run(args: argparse.Namespace) -> int:
    unknown = [n for n in args.names if n not in SOURCES]
    if unknown:
        print(f"unknown calendar(s) {', '.join(unknown)} (known: {', '.join(SOURCES)})", file=sys.stderr)
        return 2
    try:
        results = import_calendars(args.names, args.dir, write=not args.check)
    except ImportError as exc:
        print(
            f"calendar import needs the calendar libraries ({exc.name}): pip install -e '.[calendars]'",
            file=sys.stderr,
        )
        return 2
    print(summary(results, write=not args.check))
    return 1 if args.check and any(r.changed for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
