"""Counting the statements a service sends to PostgreSQL, to keep round trips per command honest.

The runner's pool registers every connection it opens (:func:`track`, the pool's ``init``): that
costs nothing per query. :func:`counting` then attaches asyncpg's query logger to every tracked
connection for the duration of a block and counts what they send — ``BEGIN``, ``COMMIT``, the
pool's reset on release, everything. Each counted statement is one round trip once the statement
is prepared on that connection (asyncpg caches prepared statements per connection; a statement's
first use on a connection costs one more round trip for Parse/Describe, not counted here)::

    with db_statements.counting() as tally:
        await client.post("/branches/b001/complaints", json=...)
        await tally.settled()
    assert tally.count <= 5, tally.statements

Used by the round-trip tests (``tests/integration/complaint/test_round_trips.py``) and the bench.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

_TRACKED: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()
_ACTIVE: list[Tally] = []


@dataclass(eq=False)
class Tally:
    """Statements seen while :func:`counting` was active, in the order they finished."""

    statements: list[str] = field(default_factory=list)
    #: the same statements per connection, for telling one transaction from another
    by_connection: dict[int, list[str]] = field(default_factory=dict)
    _loggers: dict[int, Callable[[Any], None]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.statements)

    def logger(self, conn: asyncpg.Connection) -> Callable[[Any], None]:
        """The query logger for ``conn`` (one per connection: removable again)."""
        key = id(conn)
        if key not in self._loggers:
            own = self.by_connection.setdefault(key, [])

            def log(record: Any) -> None:  # asyncpg's LoggedQuery
                statement = " ".join(str(record.query).split())[:160]
                self.statements.append(statement)
                own.append(statement)

            self._loggers[key] = log
        return self._loggers[key]

    def parts(self) -> list[list[str]]:
        """The statements in transactions (``BEGIN`` to ``COMMIT``/``ROLLBACK`` on one connection)
        and statements outside one, each a list of its own."""
        parts: list[list[str]] = []
        for statements in self.by_connection.values():
            part: list[str] = []
            for statement in statements:
                part.append(statement)
                if len(part) == 1 and statement.startswith("BEGIN"):
                    continue
                if len(part) > 1 and not ends_transaction(statement):
                    continue
                parts.append(part)
                part = []
            if part:
                parts.append(part)
        return parts

    def without(self, *markers: str) -> list[str]:
        """The statements less every part (:meth:`parts`) with one containing one of ``markers``:
        e.g. a consumer's transactions, by its progress table, or a background task's."""
        return [s for part in self.parts() if not _names(part, markers) for s in part]

    async def settled(self, quiet: float = 0.05) -> None:
        """Wait until the loggers' callbacks (scheduled with ``call_soon``) and statements still
        running after the answer (e.g. a pool reset on release) have come in."""
        seen = -1
        while seen != self.count:
            seen = self.count
            await asyncio.sleep(quiet)

    def reset(self) -> None:
        self.statements.clear()
        for statements in self.by_connection.values():
            statements.clear()


def ends_transaction(statement: str) -> bool:
    """``COMMIT`` or ``ROLLBACK``, but not ``ROLLBACK TO`` a savepoint (the transaction goes on)."""
    return statement.startswith("COMMIT") or (
        statement.startswith("ROLLBACK") and not statement.startswith("ROLLBACK TO")
    )


def _names(part: list[str], markers: tuple[str, ...]) -> bool:
    return any(marker in statement for statement in part for marker in markers)


async def track(conn: asyncpg.Connection) -> None:
    """The pool's ``init``: remember the connection (and count on it if a tally is active)."""
    _TRACKED.add(conn)
    for tally in _ACTIVE:
        conn.add_query_logger(tally.logger(conn))


@contextmanager
def counting() -> Iterator[Tally]:
    """Count the statements of every tracked connection while the block runs."""
    tally = Tally()
    _ACTIVE.append(tally)
    attached = list(_TRACKED)
    for conn in attached:
        conn.add_query_logger(tally.logger(conn))
    try:
        yield tally
    finally:
        _ACTIVE.remove(tally)
        for conn in list(_TRACKED):
            conn.remove_query_logger(tally.logger(conn))
