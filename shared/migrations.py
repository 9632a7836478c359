"""Versioned SQL migrations, applied at start-up, recorded in ``schema_migrations``.

Every service owns one PostgreSQL schema (named after the service). The shared mechanism's
tables (``shared/sql``) and the service's own files (``services/<name>/migrations``) are applied
into it in file-name order; each file runs once, in its own transaction, under an advisory lock so
two replicas starting together do not race.

Each applied file's SHA-256 is recorded with it. An applied migration is history: if its file
changes afterwards, the database no longer matches what the code believes it ran, so the service
refuses to start (:class:`MigrationChecksumError`, naming the file) instead of running on a schema
nobody can reproduce; the fix is to restore the file and put the change in a new migration. An
applied migration without a file here (a rollback to an older release) is only logged. Rows
applied before checksums existed get the current file's checksum the first time (trust on first
sight: nothing better is known about them). ``branchcare migrations status`` shows all of it.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import asyncpg

log = logging.getLogger(__name__)

SHARED_SQL = Path(__file__).parent / "sql"

MigrationState = Literal["applied", "pending", "edited", "missing"]


class MigrationChecksumError(RuntimeError):
    """An applied migration's file was changed (or removed) since it ran."""


@dataclass(frozen=True)
class MigrationStatus:
    source: str  # "shared" or the service's schema
    name: str
    state: MigrationState
    applied_at: datetime | None = None
    checksum: str | None = None  # recorded when applied
    file_checksum: str | None = None  # of the file now


def checksum(path: Path) -> str:
    """SHA-256 of the file, line endings normalised (a Windows checkout is not an edit)."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"migrations:{schema}".encode())


def sources(schema: str, service_dir: Path | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = [("shared", SHARED_SQL)]
    if service_dir is not None and service_dir.is_dir():
        found.append((schema, service_dir))
    return found


async def _ensure_table(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                source text NOT NULL, name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (source, name))"""
    )
    await conn.execute(f'ALTER TABLE "{schema}".schema_migrations ADD COLUMN IF NOT EXISTS checksum text')


async def migration_status(
    conn: asyncpg.Connection, schema: str, service_dir: Path | None
) -> list[MigrationStatus]:
    """Every migration of ``schema``: applied (checksum matches), edited, pending or missing."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".schema_migrations')
    rows = []
    if exists:
        has_checksum = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1
               AND table_name = 'schema_migrations' AND column_name = 'checksum')""",
            schema,
        )
        column = "checksum" if has_checksum else "NULL::text AS checksum"
        rows = await conn.fetch(
            f'SELECT source, name, applied_at, {column} FROM "{schema}".schema_migrations'
        )
    applied = {(r["source"], r["name"]): r for r in rows}
    result: list[MigrationStatus] = []
    for source, folder in sources(schema, service_dir):
        for path in sorted(folder.glob("*.sql")):
            now = checksum(path)
            row = applied.pop((source, path.name), None)
            if row is None:
                result.append(MigrationStatus(source, path.name, "pending", file_checksum=now))
                continue
            recorded = row["checksum"]
            state: MigrationState = "applied" if recorded in (None, now) else "edited"
            result.append(MigrationStatus(source, path.name, state, row["applied_at"], recorded, now))
    for (source, name), row in sorted(applied.items()):
        result.append(MigrationStatus(source, name, "missing", row["applied_at"], row["checksum"]))
    return result


def _refusal(schema: str, bad: list[MigrationStatus]) -> str:
    parts = [
        f"{m.source}/{m.name} was edited after it was applied "
        f"(checksum when applied {str(m.checksum)[:12]}, file now {str(m.file_checksum)[:12]})"
        for m in bad
    ]
    return (
        f"schema {schema}: " + "; ".join(parts) + ". Applied migrations are history: restore the "
        "file(s) and put the change in a new migration (`branchcare migrations status` lists them)"
    )


async def apply_migrations(conn: asyncpg.Connection, schema: str, service_dir: Path | None) -> list[str]:
    """Apply pending migrations into ``schema``; returns the names applied now.

    Raises :class:`MigrationChecksumError` (applying nothing) when an applied file was edited.
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
    try:
        await _ensure_table(conn, schema)
        status = await migration_status(conn, schema, service_dir)
        bad = [m for m in status if m.state == "edited"]
        if bad:
            raise MigrationChecksumError(_refusal(schema, bad))
        for m in status:
            if m.state == "missing":  # e.g. a rollback to a release before it: allowed, but said
                log.warning(
                    "schema %s: migration %s/%s is applied but has no file here", schema, m.source, m.name
                )
        for m in status:
            if m.state == "applied" and m.checksum is None:  # recorded before checksums existed
                await conn.execute(
                    f'UPDATE "{schema}".schema_migrations SET checksum = $3 WHERE source = $1 AND name = $2',
                    m.source,
                    m.name,
                    m.file_checksum,
                )
        folders = dict(sources(schema, service_dir))
        for m in status:
            if m.state != "pending":
                continue
            path = folders[m.source] / m.name
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                await conn.execute(path.read_text())
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (source, name, checksum) VALUES ($1, $2, $3)',
                    m.source,
                    m.name,
                    checksum(path),
                )
            applied_now.append(f"{m.source}/{m.name}")
            log.info("applied migration %s/%s to schema %s", m.source, m.name, schema)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    return applied_now
