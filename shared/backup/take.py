"""Take a backup: one ``pg_dump`` per database, consistent with its manifest.

For each database a REPEATABLE READ transaction exports its snapshot; the table checksums and the
stores' last event positions are read in it, and ``pg_dump --snapshot`` dumps exactly that
snapshot (custom format, the service schemas only — never ``erasure_log``, which must outlive any
restore). The manifest (``manifest.json``, written last and atomically: a directory without one is
an unfinished backup) records the time, every database with its schemas, dump size and SHA-256,
the table checksums and each store's last event position.

Layout: ``<backup dir>/<UTC time>/NN-<database>.dump`` + ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from shared.backup.pgtools import find_tool, run_tool
from shared.backup.tables import database_stats, existing_schemas, store_positions
from shared.backup.targets import Database
from shared.erasure_log import SCHEMA as ERASURE_LOG_SCHEMA
from shared.settings import inherited_environment

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(RuntimeError):
    """A backup step failed; the message says which database and why."""


def libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (visible in ``ps`` otherwise) and ``PGPASSWORD`` for it."""
    parts = urlsplit(url)
    env = inherited_environment()
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    return urlunsplit(parts), env


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def server_major(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SHOW server_version_num")) // 10000


@dataclass(frozen=True)
class Taken:
    directory: Path
    manifest: dict[str, Any]
    seconds: float

    @property
    def bytes(self) -> int:
        return sum(int(d["size_bytes"]) for d in self.manifest["databases"])


async def dump_database(db: Database, target: Path) -> dict[str, Any]:
    """Dump ``db`` into ``target`` in one exported snapshot; the manifest entry of it."""
    conn = await asyncpg.connect(db.url, timeout=10)
    try:
        schemas = await existing_schemas(conn, db.schemas)
        schemas = tuple(s for s in schemas if s != ERASURE_LOG_SCHEMA)
        if not schemas:
            raise BackupError(f"{db.describe()}: none of the schemas {', '.join(db.schemas)} exists")
        major = await server_major(conn)
        pg_dump = find_tool("pg_dump", major)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            stats = await database_stats(conn, schemas)
            positions = await store_positions(conn, schemas)
            url, env = libpq_args(db.url)
            cmd = [str(pg_dump), "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
            cmd += [f"--schema={s}" for s in schemas] + [f"--file={target}", f"--dbname={url}"]
            code, err = await run_tool(cmd, env)
            if code != 0:
                raise BackupError(f"pg_dump of {db.describe()} failed: {err[-500:]}")
    finally:
        await conn.close()
    return {
        "file": target.name,
        "database": db.name,
        "url": db.describe(),
        "schemas": list(schemas),
        "server_major": major,
        "pg_dump": str(pg_dump),
        "size_bytes": target.stat().st_size,
        "sha256": sha256_of(target),
        "tables": {s.key: s.to_json() for s in stats},
        "stores": {p.schema: p.to_json() for p in positions},
    }


async def take_backup(databases: list[Database], backup_dir: Path, *, now: datetime | None = None) -> Taken:
    """Dump every database into a new directory of ``backup_dir`` and write its manifest."""
    started = time.monotonic()
    at = now or datetime.now(UTC)
    directory = backup_dir / at.strftime("%Y%m%dT%H%M%S.%fZ")
    directory.mkdir(parents=True, exist_ok=False)
    entries = []
    for index, db in enumerate(databases, start=1):
        entries.append(await dump_database(db, directory / f"{index:02d}-{db.name}.dump"))
    manifest = {"format": FORMAT, "taken_at": at.isoformat(), "databases": entries}
    partial = directory / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    partial.rename(directory / MANIFEST)
    return Taken(directory, manifest, time.monotonic() - started)


def latest_backup(backup_dir: Path) -> Path | None:
    """The newest directory of ``backup_dir`` with a complete manifest."""
    if not backup_dir.is_dir():
        return None
    done = sorted(d for d in backup_dir.iterdir() if (d / MANIFEST).is_file())
    return done[-1] if done else None


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{directory}: manifest format {manifest.get('format')!r} is not {FORMAT}")
    return manifest
