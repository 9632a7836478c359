"""What a connection is doing for the length of a block, found by the connection itself.

A batch of queued writes (``shared.db_batch``) or of reactions (``shared.reactions``) is opened
on a connection by the code that owns the transaction and found again, deep in a handler, by the
connection the handler was given: no extra parameter through every layer in between. A pooled
connection proxy is one object for a whole checkout, so its ``id`` is a sound key while the block
runs; the entry is removed when the block ends, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

import asyncpg

T = TypeVar("T")


class PerConnection(Generic[T]):
    """One open ``T`` per connection at most; ``what`` names it in the error of a second one."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._open: dict[int, T] = {}

    @contextmanager
    def opened(self, conn: asyncpg.Connection, value: T) -> Iterator[T]:
        """``value`` is this connection's until the block ends."""
        if id(conn) in self._open:
            raise RuntimeError(f"{self.what} is already open on this connection")
        self._open[id(conn)] = value
        try:
            yield value
        finally:
            self._open.pop(id(conn), None)

    def of(self, conn: asyncpg.Connection) -> T | None:
        """What is open on ``conn``, if anything."""
        return self._open.get(id(conn))


class QueuesWrites(Protocol):
    def add(self, sql: str, *args: object) -> None: ...


Q = TypeVar("Q", bound=QueuesWrites)


class WriteQueues(PerConnection[Q]):
    """Connections with a queue of writes open on them (writes whose result nobody reads)."""

    async def write(self, conn: asyncpg.Connection, sql: str, *args: object) -> None:
        """Queue the write when a queue is open on ``conn``, else run it now."""
        queue = self.of(conn)
        if queue is None:
            await conn.execute(sql, *args)
        else:
            queue.add(sql, *args)
