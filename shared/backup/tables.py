"""What a database holds, measured the same way at backup time and after a restore.

A table's checksum is the MD5 of its rows' MD5s in sorted order (``row::text`` with the session in
UTC), so it does not depend on physical row order: a restored table equals its original exactly
when count and checksum match. A store's last event position is ``max(position)`` of its
``events`` table, read in the same snapshot as the dump.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableStat:
    schema: str
    table: str
    rows: int
    checksum: str

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.table}"

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "checksum": self.checksum}


@dataclass(frozen=True)
class StorePosition:
    schema: str
    position: int
    events: int
    last_recorded_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "events": self.events, "last_recorded_at": self.last_recorded_at}


async def existing_schemas(conn: asyncpg.Connection, wanted: tuple[str, ...]) -> tuple[str, ...]:
    rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])", list(wanted))
    present = {r["nspname"] for r in rows}
    return tuple(s for s in wanted if s in present)


async def tables_of(conn: asyncpg.Connection, schema: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
    )
    return [r["tablename"] for r in rows]


async def table_stat(
    conn: asyncpg.Connection, schema: str, table: str, *, exclude: tuple[str, ...] = ()
) -> TableStat:
    """Row count and checksum of one table (``exclude``: columns left out, e.g. a rebuild's clock)."""
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    if exclude:
        cols = await conn.fetch(
            """SELECT attname FROM pg_attribute
               WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
            qualified,
        )
        kept = [quote_ident(c["attname"]) for c in cols if c["attname"] not in exclude]
        row = f"ROW({', '.join(kept)})::text"
    else:
        row = "t::text"
    got = await conn.fetchrow(
        f"""SELECT count(*) AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS sum
            FROM (SELECT md5({row}) AS h FROM {qualified} t) x"""
    )
    assert got is not None
    return TableStat(schema, table, int(got["n"]), str(got["sum"]))


async def database_stats(conn: asyncpg.Connection, schemas: tuple[str, ...]) -> list[TableStat]:
    """Every table of ``schemas``; call inside the snapshot to be measured (and in UTC)."""
    await conn.execute("SET LOCAL TimeZone = 'UTC'")
    out: list[TableStat] = []
    for schema in schemas:
        for table in await tables_of(conn, schema):
            out.append(await table_stat(conn, schema, table))
    return out


async def store_positions(conn: asyncpg.Connection, schemas: tuple[str, ...]) -> list[StorePosition]:
    """Each schema's event store head: last position, event count, last ``recorded_at``."""
    out: list[StorePosition] = []
    for schema in schemas:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{quote_ident(schema)}.events"):
            continue
        row = await conn.fetchrow(
            f"""SELECT coalesce(max(position), 0) AS p, count(*) AS n, max(recorded_at) AS at
                FROM {quote_ident(schema)}.events"""
        )
        assert row is not None
        at = row["at"].isoformat() if row["at"] is not None else None
        out.append(StorePosition(schema, int(row["p"]), int(row["n"]), at))
    return out
