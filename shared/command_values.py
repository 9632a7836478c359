"""The values a command travels with (``shared.commands``): the stream as loaded (:class:`Loaded`,
with what was locked and read with it), the result, the hooks' shapes, and the SQL a load runs.

A route's branch check loads the stream once per request (a FastAPI dependency, whose value
FastAPI keeps for the request) and hands it to the command as ``preloaded``; a handler's
``lock_first`` returns what it locked and read (:class:`Locked`), which reaches the command's
builder (:attr:`Loaded.locked`) and ``after_change`` as a value. Nothing travels beside the
call (no context variables).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from shared.envelope import Envelope
from shared.eventstore import ENVELOPE_JSON, EventStore
from shared.text_owners import STREAM_KEYS

S = TypeVar("S")
C = TypeVar("C")

AfterAppend = Callable[[asyncpg.Connection, S, Sequence[Envelope]], Awaitable[None]]
"""Extra writes of the same transaction (deadlines, lookup rows), given the new state."""

S_contra = TypeVar("S_contra", contravariant=True)


class AfterChange(Protocol[S_contra]):
    """Like :data:`AfterAppend`, given the state before and after and what the handler's
    ``lock_first`` read in this transaction (``locked``: :attr:`Locked.read`; None without one,
    and for a caller that locked nothing); written with ``shared.db_batch`` in the append's own
    statement. What it returns comes back as :attr:`CommandResult.written` (e.g. the deadlines it
    set: the answer needs no second read)."""

    def __call__(
        self,
        conn: asyncpg.Connection,
        before: S_contra,
        state: S_contra,
        envelopes: Sequence[Envelope],
        locked: Any = None,
        /,
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class CommandResult(Generic[S]):
    state: S
    version: int
    events: list[Envelope]
    #: what the handler's ``after_change`` returned (None without one, or without events)
    written: Any = None


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int
    history: list[Envelope]
    #: what ``lock_first`` read with the stream, in the command's transaction (None without one)
    locked: Any = None
    #: wrapped data keys of the owners the stream's texts go under (``shared.texts``), read with
    #: the stream by a handler with ``text_keys``: a command's free text needs no key look-up
    text_keys: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def branch_id(self) -> str | None:
        """The stream's branch (its first event's), None for a stream that does not exist."""
        return self.history[0].branch_id if self.history else None


@dataclass(frozen=True)
class Locked:
    """What a :data:`LockFirst` read: ``read``, the rows it locked (handed to ``make`` as
    :attr:`Loaded.locked` and to ``after_change``), and ``stream``, the row of the handler's
    :meth:`CommandHandler.stream_sql` when the same statement read the stream (else the handler
    loads it with a statement of its own)."""

    read: Any = None
    stream: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ReadWith:
    """What a handler's :meth:`~shared.commands.CommandHandler.load` reads in the same statement as
    the stream: ``sql``, columns selected beside it (expressions of ``$1``, the stream id, each
    named, e.g. ``array(SELECT …) AS deadlines``); ``parse`` makes of the row what
    :attr:`Loaded.locked` holds, which the command's ``after_change`` gets as its last argument
    (as a :data:`LockFirst`'s :attr:`Locked.read`): rows it then need not read itself, one round
    trip fewer. Read without a lock, like any optimistic read: a command's append still refuses
    a stream changed since."""

    sql: str
    parse: Callable[[Mapping[str, Any]], Any]


MakeCommand = Callable[[asyncpg.Connection, Loaded[S]], Awaitable[C]]
"""Builds a command from the loaded state inside the transaction (may read and lock rows)."""

CheckBranch = Callable[[str], None]
"""Raises (403) unless the caller may act in the given branch: ``Principal.check_branch``."""

LockFirst = Callable[[asyncpg.Connection, str, str], Awaitable[Locked]]
"""Locks rows a command's stream depends on (given the stream id, and the handler's
:meth:`CommandHandler.stream_sql`), so every writer takes its locks in one order (e.g.
reception's SLA deadlines, then its counters), and returns what it read (:class:`Locked`). It may
read the stream in the same statement by embedding ``stream_sql`` (parameter ``$1``: the stream
id): one round trip for the lock and the load. That statement reads the stream in its own
snapshot, taken before any lock wait: a writer the lock waited for may have appended since, and
the append's version check then refuses this attempt, which is run again afresh."""


class PendingTexts(Protocol):
    """Free texts a command refers to (``shared.texts.TextBatch``): saved in the command's own
    transaction, with its events, under the stream's customer (``state.customer_ref``) or branch."""

    def __bool__(self) -> bool: ...

    async def save(
        self,
        conn: asyncpg.Connection,
        *,
        branch_id: str,
        customer_ref: str | None,
        keys: Mapping[str, bytes] | None = None,
    ) -> None: ...


async def stream_branch(store: EventStore, stream_id: str) -> str | None:
    """The branch of ``stream_id`` (every event of a stream names the same branch), or None."""
    rows = await store.read_rows(
        "SELECT branch_id FROM events WHERE stream_id = $1 AND stream_version = 1", stream_id
    )
    return str(rows[0]["branch_id"]) if rows else None


def history_sql(param: str) -> str:
    """An expression: the events of the stream named by ``param`` (e.g. ``$1``), as envelope JSON
    in order (a ``text[]``; :meth:`CommandHandler.loaded_from` reads it as ``history``)."""
    return f"array(SELECT {ENVELOPE_JSON} FROM events WHERE stream_id = {param} ORDER BY stream_version)"


_HISTORY = history_sql("$1")

#: one row: the stream's events (``history``)
STREAM_SQL = f"SELECT {_HISTORY} AS history"

#: one row: the stream's events and the wrapped data keys its texts may go under
STREAM_WITH_KEYS_SQL = f"""
SELECT {_HISTORY} AS history, k.key_owners, k.key_values
FROM (SELECT array_agg(owner) AS key_owners, array_agg(wrapped_key) AS key_values
      FROM ({STREAM_KEYS}) AS keys) AS k
"""
