"""``branchcare backup`` and ``branchcare restore-drill``.

    branchcare backup                    # the make run stack, into .devstack/backups
    branchcare backup --database reception=postgresql://… --database complaint=… --dir /backups
    branchcare restore-drill             # the latest backup of the same directory
    branchcare restore-drill --scratch-url postgresql://drill@scratch-host/postgres

Databases: ``--database SERVICE=URL``, else ``<SERVICE>_DATABASE_URL`` / ``DATABASE_URL``, else the
``make run`` stack (``shared/backup/targets.py``). Backup directory: ``--dir``, else
``BRANCHCARE_BACKUP_DIR``, else ``.devstack/backups``. Erasure log: ``--erasure-log-url``, else
``BRANCHCARE_ERASURE_LOG_URL``, else the database holding the reception schema. Both commands
write their metrics for node_exporter's textfile collector (``shared/backup/textfile.py``) and exit
non-zero on any failure or difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from shared import erasure_log
from shared.backup import textfile
from shared.backup.drill import DrillResult, run_drill
from shared.backup.take import BackupError, latest_backup, read_manifest, take_backup
from shared.backup.targets import DEFAULT_STATE_DIR, Database, TargetError, parse_assignments, resolve
from shared.settings import ToolSettings

BACKUP_DIR_ENV = "BRANCHCARE_BACKUP_DIR"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="a service's database (repeat per service); default: the services' environment or make run",
    )
    parser.add_argument(
        "--dir", type=Path, help=f"backup directory (default ${BACKUP_DIR_ENV} or .devstack/backups)"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the make run stack's state"
    )
    parser.add_argument(
        "--metrics-dir", type=Path, help="textfile-collector directory (default: the backup dir)"
    )


def register(subcommands: Any) -> None:
    backup = subcommands.add_parser("backup", help="dump every service database with a manifest")
    _common(backup)
    backup.set_defaults(handler=backup_command)
    drill = subcommands.add_parser(
        "restore-drill", help="restore the latest backup into scratch databases and verify"
    )
    _common(drill)
    drill.add_argument("--backup", type=Path, help="a backup directory (default: the latest one)")
    drill.add_argument(
        "--scratch-url", help="server for the scratch databases (default: each database's own server)"
    )
    drill.add_argument(
        "--erasure-log-url", help=f"the erasure log's database (default ${erasure_log.ERASURE_LOG_URL_ENV})"
    )
    drill.set_defaults(handler=drill_command)


def _backup_dir(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    env = ToolSettings().branchcare_backup_dir
    return Path(env) if env else Path(args.state_dir) / "backups"


def _targets(args: argparse.Namespace) -> list[Database]:
    return resolve(parse_assignments(args.database), Path(args.state_dir))


def _fail(message: str) -> int:
    print(f"branchcare: {message}", file=sys.stderr)
    return 1


async def backup_command(args: argparse.Namespace) -> int:
    backup_dir = _backup_dir(args)
    metrics = textfile.metrics_dir(args.metrics_dir, backup_dir)
    started = time.time()
    try:
        taken = await take_backup(_targets(args), backup_dir)
    except (TargetError, BackupError, RuntimeError, OSError, asyncpg.PostgresError) as exc:
        textfile.write_job_metrics(
            metrics, "backup", ok=False, at=time.time(), duration=time.time() - started
        )
        return _fail(f"backup failed: {exc}")
    extra = {"last_size_bytes": float(taken.bytes)}
    textfile.write_job_metrics(
        metrics, "backup", ok=True, at=time.time(), duration=taken.seconds, extra=extra
    )
    print(f"backup {taken.directory}  ({taken.seconds:.1f} s)")
    print(f"  {'database':<22} {'schemas':<44} {'size':>10}  sha256")
    for db in taken.manifest["databases"]:
        print(
            f"  {db['database']:<22} {','.join(db['schemas']):<44} "
            f"{db['size_bytes']:>10}  {db['sha256'][:16]}…"
        )
        for schema, store in sorted(db["stores"].items()):
            print(f"    store {schema:<16} last position {store['position']:>10}  ({store['events']} events)")
    return 0


async def _erasures(args: argparse.Namespace, targets: list[Database]) -> list[erasure_log.Erasure]:
    url = args.erasure_log_url or erasure_log.log_url_from_env()
    if url is None:
        holders = [t for t in targets if "reception" in t.schemas]
        if not holders:
            raise TargetError("no erasure log: give --erasure-log-url or the reception database")
        url = holders[0].url
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await erasure_log.read_all(conn)
    finally:
        await conn.close()


def _print(result: DrillResult) -> None:
    print(f"restore drill of {result.backup}  ({result.seconds:.1f} s)")
    print(f"  {'check':<52} {'result':<6} detail")
    for check in result.checks:
        print(f"  {check.what:<52} {'ok' if check.ok else 'DIFF':<6} {check.detail}")
    print(f"  erasures re-applied to the restored vault: {result.reapplied}")
    if result.not_rebuilt:
        print(
            "  tables no event store rebuilds (restored and checked against the backup only): "
            + ", ".join(result.not_rebuilt)
        )
    print("drill passed" if result.ok else f"drill FAILED: {result.differences} difference(s)")


async def drill_command(args: argparse.Namespace) -> int:
    backup_dir = _backup_dir(args)
    metrics = textfile.metrics_dir(args.metrics_dir, backup_dir)
    started = time.time()

    def failed(message: str) -> int:
        textfile.write_job_metrics(
            metrics, "restore_drill", ok=False, at=time.time(), duration=time.time() - started
        )
        return _fail(message)

    try:
        backup = Path(args.backup) if args.backup else latest_backup(backup_dir)
        if backup is None:
            return failed(f"no complete backup in {backup_dir}: run `branchcare backup` first")
        targets = _targets(args)
        manifest = read_manifest(backup)
        servers: dict[str, str] = {}
        for entry in manifest["databases"]:
            match = [t for t in targets if set(entry["schemas"]) & set(t.schemas)]
            servers[entry["database"]] = args.scratch_url or (match[0] if match else targets[0]).server_url
        result = await run_drill(backup, servers, await _erasures(args, targets))
    except (TargetError, BackupError, RuntimeError, OSError, asyncpg.PostgresError) as exc:
        return failed(f"restore drill failed: {exc}")
    _print(result)
    textfile.write_job_metrics(
        metrics,
        "restore_drill",
        ok=result.ok,
        at=time.time(),
        duration=result.seconds,
        extra={"last_differences": float(result.differences)},
    )
    return 0 if result.ok else 1
