"""Writes of one transaction sent to PostgreSQL together, as one statement: fewer round trips.

A command's transaction writes several rows whose results nobody reads — deadlines, the board
row, the idempotency answer, the audit row — next to its append. Each ``conn.execute`` is a round
trip (~40 µs of CPU on each side, more on a busy machine). :func:`write` queues such a write when a
batch is open on the connection (:func:`opened`), and :func:`flush` sends everything queued as
data-modifying CTEs of one statement, together with a last statement whose answer is wanted
(the append's version check)::

    WITH w0 AS (INSERT INTO deadlines ...), w1 AS (INSERT INTO complaint_board ...) <last statement>

What that costs in meaning, and why it is safe here: every part of one statement sees the same
snapshot and none sees another's changes. So a queued write must not depend on another queued
write, and no two queued writes may touch the same row (PostgreSQL applies only one of them).
The writers that queue keep that rule by construction: one statement per table per command
(deadlines of all SLAs in one ``unnest``, one board row, one audit row, one idempotency row).
Anything that *reads* flushes first (:func:`flush` before a read of a table written here), and
without an open batch :func:`write` simply executes.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from shared.per_connection import WriteQueues

_PARAM = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Last:
    """The statement a flush ends with, whose first row is wanted: ``check(row)`` raises when it
    says the transaction must not go on (the append's version check)."""

    sql: str
    args: tuple[object, ...]
    check: Callable[[asyncpg.Record | None], None]
    #: what a unique violation of the whole statement means (e.g. the append lost a race)
    refused: Callable[[asyncpg.UniqueViolationError], Exception | None] = lambda exc: None


@dataclass
class Batch:
    """The queued writes of one connection's transaction, and the statement they end with."""

    writes: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    last: Last | None = None

    def add(self, sql: str, *args: object) -> None:
        if "$$" in sql:
            raise ValueError("dollar-quoted SQL cannot be renumbered into a batch")
        self.writes.append((sql.strip().rstrip(";"), args))

    def __bool__(self) -> bool:
        return bool(self.writes) or self.last is not None

    def compose(self, last: str | None = None, args: tuple[object, ...] = ()) -> tuple[str, list[object]]:
        """One statement: the queued writes as CTEs, then ``last`` (a plain ``SELECT``/``WITH``
        query; ``SELECT 1`` if None). Parameters are renumbered after one another."""
        ctes: list[str] = []
        values: list[object] = []
        for index, (sql, params) in enumerate(self.writes):
            ctes.append(f"w{index} AS ({_shift(sql, len(values))})")
            values.extend(params)
        tail = _shift(last, len(values)) if last is not None else "SELECT 1"
        values.extend(args)
        if not ctes:
            return tail, values
        if tail.lstrip()[:4].upper() == "WITH":  # merge the last statement's own CTE list
            return "WITH " + ",\n".join(ctes) + ",\n" + tail.lstrip()[4:], values
        return "WITH " + ",\n".join(ctes) + "\n" + tail, values


@functools.lru_cache(maxsize=1024)
def _shift(sql: str, offset: int) -> str:
    """``sql`` with its parameters renumbered after ``offset`` others: the same few statements at
    the same few offsets every command, so each is rewritten once."""
    if not offset:
        return sql
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


_OPEN: WriteQueues[Batch] = WriteQueues("a batch")


def opened(conn: asyncpg.Connection) -> contextlib.AbstractContextManager[Batch]:
    """Queue :func:`write` calls on ``conn`` until the block ends (the caller flushes)."""
    return _OPEN.opened(conn, Batch())


def pending(conn: asyncpg.Connection) -> Batch | None:
    """The batch open on ``conn``, if any."""
    return _OPEN.of(conn)


write = _OPEN.write
"""Queue a write whose result nobody reads when a batch is open on ``conn``, else run it."""


async def end_with(conn: asyncpg.Connection, last: Last) -> bool:
    """Make ``last`` the statement the queued writes go with; False (nothing queued) without an
    open batch. A batch that already ends with a statement sends it first."""
    batch = _OPEN.of(conn)
    if batch is None:
        return False
    if batch.last is not None:
        await flush(conn)
    batch.last = last
    return True


async def flush(conn: asyncpg.Connection) -> None:
    """Send what is queued on ``conn`` as one statement (nothing queued: no round trip)."""
    batch = _OPEN.of(conn)
    if batch is None or not batch:
        return
    last, batch.last = batch.last, None
    sql, values = batch.compose(last.sql if last else None, last.args if last else ())
    batch.writes.clear()
    try:
        row: asyncpg.Record | None = await conn.fetchrow(sql, *values)
    except asyncpg.UniqueViolationError as exc:
        meaning = last.refused(exc) if last is not None else None
        if meaning is None:
            raise
        raise meaning from None
    if last is not None:
        last.check(row)
