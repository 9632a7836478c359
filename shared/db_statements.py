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
from collections.abc import Iterator
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

    @property
    def count(self) -> int:
        return len(self.statements)

    def __call__(self, record: Any) -> None:  # asyncpg's LoggedQuery
        self.statements.append(" ".join(str(record.query).split())[:160])

    async def settled(self, quiet: float = 0.05) -> None:
        """Wait until the loggers' callbacks (scheduled with ``call_soon``) and statements still
        running after the answer (e.g. a pool reset on release) have come in."""
        seen = -1
        while seen != self.count:
            seen = self.count
            await asyncio.sleep(quiet)

    def reset(self) -> None:
        self.statements.clear()


async def track(conn: asyncpg.Connection) -> None:
    """The pool's ``init``: remember the connection (and count on it if a tally is active)."""
    _TRACKED.add(conn)
    for tally in _ACTIVE:
        conn.add_query_logger(tally)


@contextmanager
def counting() -> Iterator[Tally]:
    """Count the statements of every tracked connection while the block runs."""
    tally = Tally()
    _ACTIVE.append(tally)
    attached = list(_TRACKED)
    for conn in attached:
        conn.add_query_logger(tally)
    try:
        yield tally
    finally:
        _ACTIVE.remove(tally)
        for conn in list(_TRACKED):
            conn.remove_query_logger(tally)
