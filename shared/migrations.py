"""Versioned SQL migrations, applied at start-up, recorded in ``schema_migrations``.

Every service owns one PostgreSQL schema (named after the service). The shared mechanism's
tables (``shared/sql``) and the service's own files (``services/<name>/migrations``) are applied
into it in file-name order; each file runs once, in its own transaction, under an advisory lock so
two replicas starting together do not race.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

SHARED_SQL = Path(__file__).parent / "sql"


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"migrations:{schema}".encode())


async def apply_migrations(conn: asyncpg.Connection, schema: str, service_dir: Path | None) -> list[str]:
    """Apply pending migrations into ``schema``; returns the names applied now."""
    sources: list[tuple[str, Path]] = [("shared", SHARED_SQL)]
    if service_dir is not None and service_dir.is_dir():
        sources.append((schema, service_dir))
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    source text NOT NULL, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (source, name))"""
        )
        done = {
            (r["source"], r["name"])
            for r in await conn.fetch(f'SELECT source, name FROM "{schema}".schema_migrations')
        }
        for source, folder in sources:
            for path in sorted(folder.glob("*.sql")):
                if (source, path.name) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                    await conn.execute(path.read_text())
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (source, name) VALUES ($1, $2)',
                        source,
                        path.name,
                    )
                applied_now.append(f"{source}/{path.name}")
                log.info("applied migration %s/%s to schema %s", source, path.name, schema)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    return applied_now
