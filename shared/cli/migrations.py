"""``branchcare migrations status``: which migrations each service's schema has, and whether they
still match their files.

Exit code: 0 every migration applied and unchanged; 1 an applied file was edited (that service
refuses to start until the file is restored); 3 migrations are pending (they apply when the
service next starts). A service's schema that does not exist yet shows every file pending.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shared.cli._common import (
    CliError,
    add_database_option,
    add_output_option,
    connect_database,
    describe_dsn,
    fail,
    print_json,
    table,
)
from shared.migrations import MigrationStatus, migration_status
from shared.topology import CONTEXTS

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("migrations", help="database migrations of every service")
    commands = group.add_subparsers(dest="command", metavar="SUBCOMMAND")
    status = commands.add_parser(
        "status", help="applied, pending and edited migrations, with the checksum of each applied file"
    )
    status.add_argument("services", nargs="*", metavar="SERVICE", help=f"default: {', '.join(CONTEXTS)}")
    add_database_option(status)
    add_output_option(status)
    status.set_defaults(handler=status_command)


def service_migrations(name: str) -> Path | None:
    folder = SERVICES_DIR / name / "migrations"
    return folder if folder.is_dir() else None


async def status_command(args: argparse.Namespace) -> int:
    names = args.services or list(CONTEXTS)
    unknown = [n for n in names if n not in CONTEXTS]
    if unknown:
        return fail(f"unknown service(s): {', '.join(unknown)} (known: {', '.join(CONTEXTS)})", 2)
    try:
        conn, url = await connect_database(args)
    except CliError as exc:
        return fail(str(exc))
    try:
        found = {name: await migration_status(conn, name, service_migrations(name)) for name in names}
    finally:
        await conn.close()
    rows = [_row(name, m) for name, status in found.items() for m in status]
    if args.json:
        print_json({"database": describe_dsn(url), "migrations": rows})
    else:
        print(f"database {describe_dsn(url)}")
        for name in found:
            print(f"\n{name}")
            own = [r for r in rows if r["service"] == name]
            print(table(own, ["migration", "state", "applied_at", "checksum"]))
    states = {r["state"] for r in rows}
    if "edited" in states:
        if not args.json:
            print("\nedited: an applied file changed; that service refuses to start until it is restored")
        return 1
    return 3 if "pending" in states else 0


def _row(service: str, m: MigrationStatus) -> dict[str, Any]:
    shown = m.checksum or m.file_checksum
    return {
        "service": service,
        "migration": f"{m.source}/{m.name}",
        "state": m.state,
        "applied_at": m.applied_at,
        "checksum": (shown or "")[:16]
        if m.state != "edited"
        else f"{str(m.checksum)[:12]} != file {str(m.file_checksum)[:12]}",
        "checksum_applied": m.checksum,
        "checksum_file": m.file_checksum,
    }
