"""A consumer batch's reactions decided together: a few statements per batch, not per event.

A reaction (follow-up's task rules, feedback's survey rules) runs one command per event it reacts
to. Run one at a time inside the batch's transaction, each is a savepoint, a stream load, an
append and a release: about five round trips per event, which at hundreds of complaints a second
is what the consumer can do and no more. Inside a :class:`ReactionBatch` (the projection runner
opens one on its transaction, :func:`opened`) the same calls only queue:

* :meth:`StreamCommands.execute_in <shared.stream_commands.StreamCommands.execute_in>` queues the
  command (:meth:`ReactionBatch.submit`); :func:`write` queues a read-model write;
* :meth:`ReactionBatch.flush` then loads every stream the queued commands touch in ONE statement,
  decides the commands in memory in the order they came (several for one stream fold one after
  the other), runs each stream's ``after_change`` once with all its new events, and sends:
  the queued writes in their order (a run of the same statement as one pipelined
  ``executemany``), the ``after_change`` writes grouped by statement (they touch one row per
  stream per table, independent of each other: ``shared.db_batch``'s rule), and every new event
  of every stream in ONE append statement, each stream checked at the version it was loaded at.
* a statement whose one parameter is a JSON array of rows (``json_to_recordset($1::json)``,
  :func:`json_rows`) queued for several streams (``after_change``) or alongside
  (:func:`write_alongside`) is ONE part of that append statement, the rows' arrays joined: no
  ``executemany`` of one execution per event ahead of it (issue 19: a batch of new complaints
  is the same few statements whatever its size, and PostgreSQL plans and runs each write once).

What a handler must keep to (as with ``shared.db_batch``): anything that *reads* what an earlier
reaction of the batch may have written (the tasks table, a stream, a row written with
:func:`write`) flushes first (:func:`flush`, cheap when nothing is queued); the rest only queues.
A command decided in the flush that raises (a domain error, a conflict with a concurrent staff
command) fails the whole flush: the runner then applies the batch again one event at a time, each
in a savepoint of the same transaction (``shared.projection``), which finds and isolates it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared import append_many, db_batch, tracing
from shared.commands import CommandHandler
from shared.envelope import Envelope, Metadata
from shared.eventstore import ENVELOPE_JSON, ConcurrencyError
from shared.metrics import APPEND_SECONDS, EVENTS_APPENDED
from shared.per_connection import WriteQueues

log = logging.getLogger(__name__)

#: every stream a flush's commands touch, in one statement (the store's envelope JSON)
_LOAD = f"""
SELECT stream_id, {ENVELOPE_JSON} AS json
FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version
"""


#: a statement that reads its rows from its only parameter, a JSON array (:func:`json_rows`)
_JSON_ROWS = re.compile(r"\bjsonb?_to_recordset\(\$1::jsonb?\)")
_PARAM = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=256)
def json_rows(sql: str) -> bool:
    """Whether ``sql``'s one parameter is a JSON array of rows it reads with
    ``json_to_recordset($1::json)``: several queued calls of it are one call with their arrays
    joined (:func:`_joined`). As for every write a flush groups, the rows must be apart (an
    ``ON CONFLICT DO UPDATE`` cannot touch one row twice in a statement)."""
    return bool(_JSON_ROWS.search(sql)) and set(_PARAM.findall(sql)) == {"1"}


def _joined(rows: Sequence[tuple[object, ...]]) -> tuple[object, ...]:
    """The one argument of a :func:`json_rows` statement for all of ``rows``: their arrays joined."""
    parts = []
    for (text,) in rows:
        assert isinstance(text, str), "a JSON rows argument is a text"
        inner = text.strip()[1:-1].strip()
        if inner:
            parts.append(inner)
    return ("[" + ",".join(parts) + "]",)


@dataclass
class _Command:
    handler: CommandHandler[Any, Any]
    stream_id: str
    command: Any
    meta: Metadata
    branch_id: str | None
    #: the trace of the event that caused it (``tracing.handling``), stored with its events
    traceparent: str | None


@dataclass
class _Stream:
    handler: CommandHandler[Any, Any]
    loaded_version: int
    before: Any
    state: Any
    branch_id: str | None
    new: list[Envelope] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)


class ReactionBatch:
    """The commands and writes a consumer batch's reactions queued on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.commands: list[_Command] = []
        self.writes: list[tuple[str, tuple[object, ...]]] = []
        #: writes of one row each that no ordered write of the batch touches (:func:`write_alongside`)
        self.alongside: list[tuple[str, tuple[object, ...]]] = []
        #: events appended by this batch's flushes (the caller wakes the relay when any were)
        self.appended = 0

    def __bool__(self) -> bool:
        return bool(self.commands) or bool(self.writes) or bool(self.alongside)

    def submit(
        self,
        handler: CommandHandler[Any, Any],
        stream_id: str,
        command: Any,
        *,
        meta: Metadata,
        branch_id: str | None = None,
    ) -> None:
        """Queue a command on a stream (created if it does not exist): decided at the flush."""
        if self.commands and self.commands[0].handler.store is not handler.store:
            raise ValueError("one reaction batch appends to one event store")
        traceparent = tracing.current_traceparent()
        self.commands.append(_Command(handler, stream_id, command, meta, branch_id, traceparent))

    def add(self, sql: str, *args: object) -> None:
        """Queue a read-model write; queued writes are sent in order before the commands'."""
        self.writes.append((sql.strip().rstrip(";"), args))

    def add_alongside(self, sql: str, *args: object) -> None:
        """Queue a write sent with the flush's last statement (:func:`write_alongside`)."""
        self.alongside.append((sql.strip().rstrip(";"), args))

    def discard(self) -> None:
        """Forget what is queued (its savepoint was rolled back)."""
        self.commands.clear()
        self.writes.clear()
        self.alongside.clear()

    async def isolated(
        self,
        apply: Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]],
        events: Sequence[Envelope],
        attempts: int,
        passthrough: tuple[type[BaseException], ...],
    ) -> dict[int, Exception]:
        """The fallback after a whole batch failed: ``apply`` each event in a savepoint of its
        own, its reactions flushed in it, up to ``attempts`` times (a conflict with a concurrent
        command is decided again on a fresh load). The events that still fail, by index, with
        their last error: the others applied. ``passthrough`` errors (the database down) abort, and
        so does a conflict that outlasts the attempts (a stream last written by a younger
        transaction needs a fresh one: the runner then goes one transaction per event)."""
        failed: dict[int, Exception] = {}
        for index, env in enumerate(events):
            for _ in range(attempts):
                try:
                    async with self.conn.transaction():
                        await apply(self.conn, [env])
                        await self.flush()
                    failed.pop(index, None)
                    break
                except passthrough:
                    raise
                except Exception as exc:
                    self.discard()
                    failed[index] = exc
            if isinstance(failed.get(index), ConcurrencyError):
                raise failed[index]  # a stream written by a younger transaction: a fresh one
            if index in failed:
                log.warning("%s v%d isolated: %r", env.stream_id, env.stream_version, failed[index])
        return failed

    async def flush(self, last: Sequence[tuple[str, tuple[object, ...]]] = ()) -> None:
        """Send what is queued; ``last``: independent writes (one row each, read by nobody in the
        batch: the consumer's positions) that go in the same statement as the append."""
        conn = self.conn
        writes, self.writes = self.writes, []
        commands, self.commands = self.commands, []
        alongside, self.alongside = self.alongside, []
        for sql, rows in _runs(writes):
            if len(rows) == 1:
                await conn.execute(sql, *rows[0])
            else:
                await conn.executemany(sql, rows)
        # one row of a statement joins the last one (JSON rows: all); more: one executemany first
        if alongside:
            joined = []
            for sql, rows in _grouped(alongside):
                if len(rows) == 1:
                    joined.append((sql, rows[0]))
                elif json_rows(sql):
                    joined.append((sql, _joined(rows)))
                else:
                    await conn.executemany(sql, rows)
            last = [*joined, *last]
        if commands:
            streams = await self._decide(commands)
            if any(s.new for s in streams.values()):
                await self._write(streams, last)
                return
        if last:
            final = db_batch.Batch()
            for sql, args in last:
                final.add(sql, *args)
            sql, values = final.compose()
            await conn.fetchrow(sql, *values)

    async def _decide(self, commands: list[_Command]) -> dict[str, _Stream]:
        """Load every stream once, then decide the commands in order on the states in memory."""
        store = commands[0].handler.store
        ids = list(dict.fromkeys(c.stream_id for c in commands))
        rows = await self.conn.fetch(_LOAD, ids)
        histories: dict[str, list[Envelope]] = {s: [] for s in ids}
        for row in rows:
            env = Envelope.model_validate_json(row["json"])
            histories[row["stream_id"]].append(store.registry.upcast(env, stored=True))
        streams: dict[str, _Stream] = {}
        for c in commands:
            stream = streams.get(c.stream_id)
            if stream is None:
                history = histories[c.stream_id]
                state = c.handler.decider.fold(store.registry.decode(e) for e in history)
                branch = history[0].branch_id if history else None
                stream = streams[c.stream_id] = _Stream(c.handler, len(history), state, state, branch)
            decided = c.handler.decider.decide(stream.state, c.command)
            if not decided:
                continue
            branch = stream.branch_id or c.branch_id
            if branch is None:
                raise ValueError(f"{c.stream_id}: a new stream needs a branch_id")
            version = stream.loaded_version + len(stream.new)
            envelopes = c.handler.envelopes(c.stream_id, version, branch, decided, c.meta)
            stream.state = c.handler.decider.fold(decided, stream.state)
            stream.branch_id = branch
            stream.new.extend(envelopes)
            stream.traceparents.extend([c.traceparent] * len(envelopes))
        return streams

    async def _write(
        self, streams: dict[str, _Stream], last: Sequence[tuple[str, tuple[object, ...]]]
    ) -> None:
        """Each stream's ``after_change`` once (its writes collected), then everything sent:
        each statement's rows as one ``executemany``, the last ones with the append."""
        conn = self.conn
        started = time.perf_counter()
        changed = {sid: s for sid, s in streams.items() if s.new}
        collected = db_batch.Batch()
        for s in changed.values():
            if s.handler.after_change is None:
                raise ValueError("a batched reaction's handler keeps its read model with after_change")
            # the hook's one call here, with the four arguments every app's takes (a further
            # "what lock_first read" argument, if the hook grows one, stays at its default: a
            # reaction locks nothing first)
            after_change: Any = s.handler.after_change
            with db_batch.opened(conn) as queued:
                await after_change(conn, s.before, s.state, s.new)
                if queued.last is not None:
                    raise RuntimeError("after_change may not end a batch with a statement of its own")
                collected.writes.extend(queued.writes)
        final = db_batch.Batch()
        for sql, rows in _grouped(collected.writes):
            if len(rows) == 1:
                final.add(sql, *rows[0])
            elif json_rows(sql):
                final.add(sql, *_joined(rows))
            else:
                await conn.executemany(sql, rows)
        for sql, args in last:
            final.add(sql, *args)
        store = next(iter(changed.values())).handler.store
        expected = {stream_id: s.loaded_version for stream_id, s in changed.items()}
        new = [row for s in changed.values() for row in zip(s.new, s.traceparents, strict=True)]
        sql, values = final.compose(append_many.APPEND_MANY, append_many.arguments(store, expected, new))
        try:
            answer = await conn.fetch(sql, *values)
        except asyncpg.UniqueViolationError as exc:
            refusal = append_many.clash(exc, expected)
            if refusal is None:
                raise
            raise refusal from None
        append_many.raise_refused(answer, expected)
        events = sum(len(s.new) for s in changed.values())
        self.appended += events
        service = next(iter(changed.values())).handler.service
        APPEND_SECONDS.labels(service).observe(time.perf_counter() - started)
        EVENTS_APPENDED.labels(service).inc(events)


def _runs(writes: list[tuple[str, tuple[object, ...]]]) -> Iterator[tuple[str, list[tuple[object, ...]]]]:
    """Consecutive writes of the same statement together (their order kept exactly)."""
    run: list[tuple[object, ...]] = []
    current: str | None = None
    for sql, args in writes:
        if sql != current and run:
            assert current is not None
            yield current, run
            run = []
        current = sql
        run.append(args)
    if run:
        assert current is not None
        yield current, run


def _grouped(writes: list[tuple[str, tuple[object, ...]]]) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Writes of the same statement together, in the order each statement first came (the writes
    are independent of each other: ``shared.db_batch``'s rule for queued writes)."""
    groups: dict[str, list[tuple[object, ...]]] = {}
    for sql, args in writes:
        groups.setdefault(sql, []).append(args)
    return list(groups.items())


_OPEN: WriteQueues[ReactionBatch] = WriteQueues("a reaction batch")


def opened(conn: asyncpg.Connection) -> contextlib.AbstractContextManager[ReactionBatch]:
    """Queue reactions' commands and writes on ``conn`` until the block ends (the caller flushes)."""
    return _OPEN.opened(conn, ReactionBatch(conn))


def pending(conn: asyncpg.Connection) -> ReactionBatch | None:
    """The reaction batch open on ``conn``, if any."""
    return _OPEN.of(conn)


write = _OPEN.write
"""Queue a read-model write in the reaction batch open on ``conn``, else run it now."""


async def write_alongside(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    """Queue a write of one row that goes with the next flush's last statement (the append, or the
    consumer's positions), not a statement ahead of it (issue 19: a new complaint's row in
    follow-up); else run it now. The caller vouches that no write queued with :func:`write` in
    the same flush touches that row (its order among those is not kept), nor does another
    alongside write (a :func:`json_rows` statement's rows go as one), and, as for every queued
    write, that whoever reads the row flushes first."""
    batch = _OPEN.of(conn)
    if batch is None:
        await conn.execute(sql, *args)
    else:
        batch.add_alongside(sql, *args)


async def flush(conn: asyncpg.Connection) -> None:
    """Before a read: send what the reaction batch open on ``conn`` queued (nothing: no round trip)."""
    batch = _OPEN.of(conn)
    if batch:
        await batch.flush()
