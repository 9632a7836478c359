"""The restore drill: prove the latest backup gives everything back, except the erased.

1. the dumps' sizes and SHA-256 match the manifest;
2. each dump is restored (``pg_restore`` of the server's version) into a scratch database, and every
   table's row count and checksum is compared with the manifest (taken in the dump's snapshot);
3. the erasure log (read live, never from the backup) is re-applied to the restored vault and to
   every restored schema's private texts, audited as ``pii.erase.reapplied``;
4. no erased customer is readable: no logged ref keeps a data key older than its erasure, nor
   ciphertext without a newer key;
5. once every dump is restored, a second scratch copy of each has its read models emptied and
   rebuilt from the restored event stores — the store-fed ones by folding their own store
   (:mod:`.rebuilders`), the Kafka-fed ones by re-applying their sources' stored events through
   their table writers, without the reactions (:mod:`.replayed`); each table is compared with the
   restored one (row count and checksum);
6. the scratch databases are dropped, whatever happened.

Every comparison is a :class:`Check`; any failed check fails the drill.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from shared import erasure_log
from shared.backup.pgtools import find_tool, run_tool
from shared.backup.rebuilders import SOURCE_TABLES, Rebuilder, rebuilders
from shared.backup.replayed import rebuild_from_stores
from shared.backup.tables import quote_ident, table_stat, tables_of
from shared.backup.take import libpq_args, read_manifest, server_major, sha256_of
from shared.devstack import drop_database, ensure_database
from shared.erasure_log import Erasure
from shared.readmodels.kafka_fed import replays


@dataclass(frozen=True)
class Check:
    what: str  # e.g. "restore reception.events", "rebuild reception.visits", "erased"
    ok: bool
    detail: str


@dataclass
class DrillResult:
    backup: Path
    checks: list[Check] = field(default_factory=list)
    not_rebuilt: list[str] = field(default_factory=list)
    reapplied: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def differences(self) -> int:
        return sum(1 for c in self.checks if not c.ok)


@asynccontextmanager
async def scratch_database(server_url: str, name: str) -> AsyncIterator[str]:
    url = await ensure_database(server_url, name)
    try:
        yield url
    finally:
        await drop_database(server_url, name)


async def restore_into(url: str, dump: Path) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        major = await server_major(conn)
    finally:
        await conn.close()
    pg_restore = find_tool("pg_restore", major)
    target, env = libpq_args(url)
    cmd = [
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        f"--dbname={target}",
        str(dump),
    ]
    code, err = await run_tool(cmd, env)
    if code != 0:
        raise RuntimeError(f"pg_restore of {dump.name} failed: {err[-500:]}")


async def _compare_restored(conn: asyncpg.Connection, entry: dict[str, Any], result: DrillResult) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        found: dict[str, tuple[int, str]] = {}
        for schema in entry["schemas"]:
            for table in await tables_of(conn, schema):
                stat = await table_stat(conn, schema, table)
                found[stat.key] = (stat.rows, stat.checksum)
    for key in sorted(set(found) | set(entry["tables"])):
        want = entry["tables"].get(key)
        got = found.get(key)
        if want is None or got is None:
            result.checks.append(
                Check(f"restore {key}", False, "missing after restore" if got is None else "unexpected")
            )
            continue
        same = (want["rows"], want["checksum"]) == got
        detail = (
            f"{got[0]} rows"
            if same
            else f"backup {want['rows']} rows / restored {got[0]} rows, checksum differs"
        )
        result.checks.append(Check(f"restore {key}", same, detail))


async def _apply_erasures(url: str, schemas: list[str], entries: list[Erasure], result: DrillResult) -> None:
    now = datetime.now(UTC)
    for schema in schemas:
        conn = await asyncpg.connect(url, timeout=10, server_settings={"search_path": schema})
        try:
            async with conn.transaction():
                if schema == "reception":
                    applied = await erasure_log.reapply_audited(conn, entries, now=now)
                    result.reapplied += len(applied)
                await erasure_log.reapply_texts(conn, entries)
            texts = await erasure_log.texts_readable_after_erasure(conn, entries)
            result.checks.append(
                Check(
                    f"erased customers' texts unreadable ({schema})",
                    not texts,
                    "none readable" if not texts else f"{len(texts)} customer(s) still readable",
                )
            )
            if schema == "reception":
                readable = await erasure_log.readable_after_erasure(conn, entries)
                result.checks.append(
                    Check(
                        "erased customers unreadable",
                        not readable,
                        f"{len(entries)} logged erasure(s), none readable"
                        if not readable
                        else f"{len(readable)} erased customer(s) still readable: {', '.join(readable[:5])}",
                    )
                )
        finally:
            await conn.close()


async def _compare_rebuilt(
    restored: asyncpg.Connection, rebuilt: asyncpg.Connection, rebuilder: Rebuilder, result: DrillResult
) -> None:
    for table in rebuilder.tables:
        exclude = rebuilder.exclude.get(table, ())
        stats = []
        for conn in (restored, rebuilt):
            async with conn.transaction():
                await conn.execute("SET LOCAL TimeZone = 'UTC'")
                stats.append(await table_stat(conn, rebuilder.schema, table, exclude=exclude))
        a, b = stats
        same = (a.rows, a.checksum) == (b.rows, b.checksum)
        detail = (
            f"{a.rows} rows" if same else f"restored {a.rows} rows / rebuilt {b.rows} rows, checksum differs"
        )
        result.checks.append(Check(f"rebuild {a.key}", same, detail))


async def _rebuild(url: str, restored_url: str, schemas: list[str], result: DrillResult) -> None:
    known = {r.schema: r for r in rebuilders()}
    for schema in schemas:
        rebuilder = known.get(schema)
        if rebuilder is None:
            continue
        conn = await asyncpg.connect(url, timeout=10, server_settings={"search_path": schema})
        try:
            async with conn.transaction():
                await conn.execute("TRUNCATE " + ", ".join(quote_ident(t) for t in rebuilder.tables))
                await rebuilder.run(conn)
        finally:
            await conn.close()
        await _compare_tables(restored_url, url, schema, rebuilder.tables, rebuilder.exclude, result)


async def _compare_tables(
    restored_url: str,
    rebuilt_url: str,
    schema: str,
    tables: tuple[str, ...],
    exclude: dict[str, tuple[str, ...]],
    result: DrillResult,
) -> None:
    restored = await asyncpg.connect(restored_url, timeout=10)
    rebuilt = await asyncpg.connect(rebuilt_url, timeout=10)
    try:
        await _compare_rebuilt(restored, rebuilt, Rebuilder(schema, tables, _not_run, exclude), result)
    finally:
        await restored.close()
        await rebuilt.close()


async def _not_run(conn: asyncpg.Connection) -> None:  # pragma: no cover - compared only
    raise NotImplementedError


async def _replay(copies: dict[str, tuple[str, str]], result: DrillResult) -> None:
    """Every Kafka-fed read model of the backup rebuilt from the restored stores of its sources
    (:mod:`.replayed`); one whose source store is not in the backup is named as not rebuilt."""
    stores = {schema: rebuilt for schema, (_, rebuilt) in copies.items()}
    for replay in replays():
        if replay.schema not in copies:
            continue
        missing = [s for s in replay.sources if s not in stores]
        if missing:
            result.not_rebuilt += [
                f"{replay.schema}.{t} (source store {', '.join(missing)} not in the backup)"
                for t in replay.tables
            ]
            continue
        restored_url, rebuilt_url = copies[replay.schema]
        await rebuild_from_stores(replay, rebuilt_url, stores)
        await _compare_tables(restored_url, rebuilt_url, replay.schema, replay.tables, {}, result)


def _not_rebuilt(entry: dict[str, Any]) -> list[str]:
    """Read-model tables of the dump the drill rebuilds from no store (restored and checked against
    the backup only)."""
    covered = {f"{r.schema}.{t}" for r in rebuilders() for t in r.tables}
    covered |= {f"{r.schema}.{t}" for r in replays() for t in r.tables}
    return sorted(
        key for key in entry["tables"] if key not in covered and key.split(".", 1)[1] not in SOURCE_TABLES
    )


async def run_drill(
    backup: Path, servers: dict[str, str], entries: list[Erasure], *, stamp: str | None = None
) -> DrillResult:
    """Drill ``backup``; ``servers`` maps each dump's database name to the server URL that gets its
    scratch copies; ``entries`` is the live erasure log. Every dump is restored before any read
    model is rebuilt: a Kafka-fed read model's sources may be another database's stores."""
    started = time.monotonic()
    manifest = read_manifest(backup)
    result = DrillResult(backup)
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    #: schema → (its restored copy, its copy to rebuild in)
    copies: dict[str, tuple[str, str]] = {}
    async with AsyncExitStack() as scratch:
        for entry in manifest["databases"]:
            dump = backup / entry["file"]
            size_ok = dump.is_file() and dump.stat().st_size == entry["size_bytes"]
            digest_ok = size_ok and sha256_of(dump) == entry["sha256"]
            result.checks.append(
                Check(
                    f"file {entry['file']}",
                    digest_ok,
                    "size and SHA-256 match" if digest_ok else "differs from the manifest",
                )
            )
            if not digest_ok:
                continue
            server = servers[entry["database"]]
            base = f"{entry['database'][:30]}_drill_{stamp}"
            restored_url = await scratch.enter_async_context(scratch_database(server, f"{base}_r"))
            rebuilt_url = await scratch.enter_async_context(scratch_database(server, f"{base}_b"))
            await restore_into(restored_url, dump)
            await restore_into(rebuilt_url, dump)
            conn = await asyncpg.connect(restored_url, timeout=10)
            try:
                await _compare_restored(conn, entry, result)
            finally:
                await conn.close()
            await _apply_erasures(restored_url, entry["schemas"], entries, result)
            copies.update({schema: (restored_url, rebuilt_url) for schema in entry["schemas"]})
            result.not_rebuilt += _not_rebuilt(entry)
        for schema, (restored_url, rebuilt_url) in copies.items():
            await _rebuild(rebuilt_url, restored_url, [schema], result)
        await _replay(copies, result)
    result.seconds = time.monotonic() - started
    return result
