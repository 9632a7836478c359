"""What every ``branchcare`` command shares: where the database and broker are, and how to print.

Addresses, in this order: the command's ``--database-url`` / ``--bootstrap-servers``; the
environment the services read (``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``); the addresses of
a running ``make run`` (the dev runner writes them to ``.devstack/infra.json`` while it is up,
because its embedded PostgreSQL listens on a free port). So the commands need no arguments next
to ``make run`` and take explicit URLs in production.

Output is a table for a person, or with ``--json`` one JSON document on stdout for a script.
Progress of long work goes to stderr (never mixed into ``--json`` output).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from shared.settings import ToolSettings

#: the dev runner's default state directory (``services/devrunner/base.py``: ``.devstack``)
DEV_STATE_DIR = Path(__file__).resolve().parents[2] / ".devstack"
#: where the dev runner records the addresses it started (see :func:`write_dev_infra`)
INFRA_FILE = "infra.json"
STATE_DIR_ENV = "BRANCHCARE_STATE_DIR"


class CliError(Exception):
    """A problem the operator can fix (missing address, bad argument); printed as one line."""


def add_documented_command(
    subcommands: Any, name: str, *, help: str, doc: str | None
) -> argparse.ArgumentParser:
    """A command whose ``--help`` prints ``doc`` (its module's docstring) with its line breaks."""
    return subcommands.add_parser(
        name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL DSN (default: DATABASE_URL, else the running `make run`)",
    )


def add_kafka_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else the running `make run`)",
    )


# ------------------------------------------------------------------------------------ addresses


def write_dev_infra(state_dir: Path, database_url: str, bootstrap_servers: str) -> Path:
    """Called by the dev runner once its infrastructure is up (removed again when it stops)."""
    path = state_dir / INFRA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"database_url": database_url, "bootstrap_servers": bootstrap_servers, "pid": os.getpid()}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _dev_infra() -> dict[str, Any]:
    state_dir = Path(ToolSettings().branchcare_state_dir or DEV_STATE_DIR)
    try:
        data = json.loads((state_dir / INFRA_FILE).read_text())
    except (OSError, ValueError):
        return {}
    try:
        os.kill(int(data.get("pid", 0)), 0)  # a file left by a killed runner points at nothing
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def database_url(args: argparse.Namespace) -> str:
    url = (
        getattr(args, "database_url", None) or ToolSettings().database_url or _dev_infra().get("database_url")
    )
    if not url:
        raise CliError("no database: pass --database-url, set DATABASE_URL, or start `make run`")
    return str(url)


async def connect_database(args: argparse.Namespace) -> tuple[asyncpg.Connection, str]:
    """The command's database (:func:`database_url`), connected, and its URL; a
    :class:`CliError` says why not."""
    url = database_url(args)
    try:
        return await asyncpg.connect(url, timeout=10), url
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise CliError(f"cannot reach PostgreSQL at {describe_dsn(url)}: {exc}") from exc


def bootstrap_servers(args: argparse.Namespace) -> str:
    servers = (
        getattr(args, "bootstrap_servers", None)
        or ToolSettings().kafka_bootstrap_servers
        or _dev_infra().get("bootstrap_servers")
    )
    if not servers:
        raise CliError(
            "no broker: pass --bootstrap-servers, set KAFKA_BOOTSTRAP_SERVERS, or start `make run`"
        )
    return str(servers)


def describe_dsn(dsn: str) -> str:
    """The DSN without credentials (for messages)."""
    head, _, tail = dsn.partition("://")
    return f"{head}://{tail.rpartition('@')[2]}" if tail else dsn


# --------------------------------------------------------------------------------------- output


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, empty: str = "(none)") -> str:
    """A plain aligned text table (no library needed to read it over ssh)."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=_json_default)
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class Progress:
    """``done/total`` on one stderr line, rewritten in place on a terminal, silent otherwise."""

    def __init__(self, label: str, total: int, *, enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def fail(message: str, code: int = 1) -> int:
    print(f"branchcare: {message}", file=sys.stderr)
    return code


# ---------------------------------------------------------------------------------------- times

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """``2026-12-07T09:00``, ``2026-12-07`` (UTC unless an offset is given) or ``90m``/``2h``/``3d``
    ago."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (use 2026-12-07T09:00, 2026-12-07 or 2h / 30m / 3d ago)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
