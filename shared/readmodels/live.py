"""Run a store-fed rebuild on a live database, in one transaction that commands wait behind.

The transaction takes ``EXCLUSIVE`` locks on the service's ``events`` table and on the read-model
tables (readers go on reading the old rows; a command that appends or writes a row waits, for as
long as the fold takes, then goes on): no event can be appended between the fold and the commit,
so the rebuilt tables are exactly the store's fold. ``lock_timeout`` bounds the wait for commands
already running. The rows are deleted (not truncated: readers never block) and refilled; the row
counts and checksums before and after say whether the read model had drifted from its store.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.backup.tables import TableStat, quote_ident, table_stat
from shared.readmodels.store_fed import Rebuilder


@dataclass(frozen=True)
class TableChange:
    before: TableStat
    after: TableStat

    @property
    def same(self) -> bool:
        return (self.before.rows, self.before.checksum) == (self.after.rows, self.after.checksum)

    def line(self) -> str:
        verdict = "unchanged" if self.same else "REPAIRED (differed from the store's fold)"
        return (
            f"{self.before.key}: {self.before.rows} rows ({self.before.checksum[:12] or '-'}) -> "
            f"{self.after.rows} rows ({self.after.checksum[:12] or '-'}): {verdict}"
        )


async def rebuild_live(
    conn: asyncpg.Connection, rebuilder: Rebuilder, *, lock_timeout_s: float = 10.0
) -> list[TableChange]:
    """Empty and refill ``rebuilder``'s tables from the store under locks; one transaction."""
    tables = ", ".join(quote_ident(t) for t in rebuilder.tables)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        await conn.execute(f"SET LOCAL search_path = {quote_ident(rebuilder.schema)}")
        await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        await conn.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        before = [await _stat(conn, rebuilder, t) for t in rebuilder.tables]
        for table in rebuilder.tables:
            await conn.execute(f"DELETE FROM {quote_ident(table)}")
        await rebuilder.run(conn)
        after = [await _stat(conn, rebuilder, t) for t in rebuilder.tables]
    return [TableChange(b, a) for b, a in zip(before, after, strict=True)]


async def _stat(conn: asyncpg.Connection, rebuilder: Rebuilder, table: str) -> TableStat:
    return await table_stat(conn, rebuilder.schema, table, exclude=rebuilder.exclude.get(table, ()))
