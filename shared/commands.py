"""Command handling: load a stream, decide, append with optimistic concurrency — one transaction.

A command given an ``expected_version`` (the client's ``If-Match``) fails with
:class:`~shared.eventstore.ConcurrencyError` when someone else changed the stream meanwhile (a 409
for the client: nobody's edit is silently overwritten). Without one, a conflict is retried on the
fresh state a few times, because the decision is re-made on what is really there.

What a command starts from travels as values (``shared.command_values``): the stream a route's
branch check loaded (``preloaded``), what ``lock_first`` locked and read with it (``Locked``, then
``Loaded.locked`` and ``after_change``'s last argument) and the wrapped keys of its texts
(``Loaded.text_keys``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Generic, TypeVar, cast

import asyncpg

from shared import db_batch
from shared.clock import Clock
from shared.command_values import (
    STREAM_SQL,
    STREAM_WITH_KEYS_SQL,
    AfterAppend,
    AfterChange,
    CheckBranch,
    CommandResult,
    Loaded,
    Locked,
    LockFirst,
    MakeCommand,
    PendingTexts,
    ReadWith,
    history_sql,
    stream_branch,
)
from shared.decider import Decider, NotFound
from shared.envelope import Envelope, Metadata
from shared.eventstore import ConcurrencyError, EventStore
from shared.logs import bind
from shared.metrics import APPEND_SECONDS, COMMAND_CONFLICTS, EVENTS_APPENDED
from shared.registry import EventData, envelope_of
from shared.stream_cache import AFTER_SQL, AFTER_WITH_KEYS_SQL, StreamCache

__all__ = [
    "AfterAppend",
    "AfterChange",
    "CheckBranch",
    "CommandHandler",
    "CommandResult",
    "Loaded",
    "LockFirst",
    "Locked",
    "MakeCommand",
    "PendingTexts",
    "ReadWith",
    "history_sql",
    "stream_branch",
]

log = logging.getLogger(__name__)

S = TypeVar("S")
C = TypeVar("C")

#: a transaction the database gave up on (a lock cycle, a serialisation failure): run it again
_RETRY_DB = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _logged(method: F) -> F:
    """Log lines written while a command runs carry its stream id and correlation id."""

    @functools.wraps(method)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        stream_id = kwargs.get("stream_id") or next((a for a in args if isinstance(a, str)), None)
        meta = kwargs.get("meta")
        with bind(stream_id=stream_id, correlation_id=getattr(meta, "correlation_id", None)):
            return await method(self, *args, **kwargs)

    return cast(F, run)


class CommandHandler(Generic[C, S]):
    def __init__(
        self,
        service: str,
        store: EventStore,
        decider: Decider[C, S],
        clock: Clock,
        *,
        after_append: AfterAppend[S] | None = None,
        after_change: AfterChange[S] | None = None,
        retries: int = 3,
        lock_first: LockFirst | None = None,
        text_keys: bool = False,
        one_statement: bool = False,
        read_with: ReadWith | None = None,
        stream_cache: StreamCache[S] | None = None,
    ) -> None:
        """``after_append`` writes right after the append (its own statements); ``after_change``
        queues its writes (``shared.db_batch``) so that, in a transaction of
        :meth:`EventStore.transaction`, they and the append go to PostgreSQL as one statement at
        commit (the append's version check still decides: a conflict rolls all of it back).
        ``lock_first``: rows :meth:`execute` locks before it loads the stream (see
        :data:`LockFirst`); a command run in a caller's transaction (:meth:`execute_in`) leaves
        locking to that caller. ``text_keys``: a load for a command carrying texts (and a route's
        load, which does not know yet) also reads the wrapped data keys of the stream's customers
        and branch (:attr:`Loaded.text_keys`), for a service whose commands carry free texts
        (``shared.texts``): saving them then needs no key look-up. ``one_statement``: ``after_change``
        only reads (locking nothing) and queues its writes, so a command of :meth:`execute` on a
        stream it loaded needs no transaction: its writes and append go as one statement, without
        ``BEGIN`` and ``COMMIT`` (:meth:`EventStore.one_statement`). ``read_with``: what a load
        with the text keys (a route's) also reads for ``after_change`` (:class:`ReadWith`).
        ``stream_cache``: streams decoded before, by version (``shared.stream_cache``): a load
        reads and decodes only the events after the cached ones."""
        if after_append is not None and after_change is not None:
            raise ValueError("give after_append or after_change, not both")
        if one_statement and after_append is not None:
            raise ValueError("after_append writes on its own: no one_statement with it")
        self.service = service
        self.store = store
        self.decider = decider
        self.clock = clock
        self.after_append = after_append
        self.after_change = after_change
        self.retries = retries
        self.lock_first = lock_first
        self.text_keys = text_keys
        self.one_statement = one_statement
        self.read_with = read_with
        self.cache = stream_cache
        keyed = AFTER_WITH_KEYS_SQL if stream_cache is not None else STREAM_WITH_KEYS_SQL
        self._load_sql = keyed
        if read_with is not None:
            self._load_sql = f"SELECT s.*, {read_with.sql} FROM ({keyed}) AS s"
        # the labelled metric children, looked up once (a ``labels()`` call takes a lock and
        # builds a key on every command otherwise)
        self._append_seconds = APPEND_SECONDS.labels(service)
        self._events_appended = EVENTS_APPENDED.labels(service)

    def stream_sql(self, keys: bool = True) -> str:
        """A one-row query (parameter ``$1``: the stream id) of what :meth:`load` reads: the
        stream's events as envelope JSON (``history``) and, with ``text_keys`` (and ``keys``:
        the command may carry texts), the wrapped keys (``key_owners``, ``key_values``). A
        :data:`LockFirst` embeds it to lock and load at once; :meth:`loaded_from` makes the
        :class:`Loaded` of its row."""
        return STREAM_WITH_KEYS_SQL if self.text_keys and keys else STREAM_SQL

    def loaded_from(
        self, row: Mapping[str, Any], locked: Any = None, base: Loaded[S] | None = None
    ) -> Loaded[S]:
        """The :class:`Loaded` of a :meth:`stream_sql` row (``locked``: what was read with it;
        ``base``: the cached stream the row's events follow, ``shared.stream_cache``)."""
        registry = self.store.registry
        history = [
            registry.upcast(Envelope.model_validate_json(j), stored=True) for j in row["history"] or ()
        ]
        keys: dict[str, bytes] = {}
        owners = row.get("key_owners")
        if owners:
            keys = dict(zip(owners, row["key_values"], strict=True))
        state = self.decider.fold((registry.decode(e) for e in history), base.state if base else None)
        if base is not None:
            history = [*base.history, *history]
        return Loaded(state, len(history), history, locked, keys)

    async def load(
        self, stream_id: str, conn: asyncpg.Connection | None = None, *, keys: bool = True
    ) -> Loaded[S]:
        """The stream's state (on ``conn``, else on a pooled connection). A route checks the
        stream's branch on it before it runs (``shared.auth.requires_on``) and hands it to the
        command (``preloaded``): the check and the load are one round trip, not two. ``keys``:
        read the text keys too (a handler with ``text_keys``; a command without texts needs
        none)."""
        if self.cache is not None:
            return await self._load_after(stream_id, conn, keys)
        if not (self.text_keys and keys):
            history = await self.store.read_stream(stream_id, conn)
            registry = self.store.registry
            state = self.decider.fold(registry.decode(e) for e in history)
            return Loaded(state, len(history), history)
        sql = self._load_sql
        rows = await (self.store.read_rows(sql, stream_id) if conn is None else conn.fetch(sql, stream_id))
        read = None if self.read_with is None else self.read_with.parse(rows[0])
        return self.loaded_from(rows[0], read)

    async def _load_after(self, stream_id: str, conn: asyncpg.Connection | None, keys: bool) -> Loaded[S]:
        """:meth:`load` through the stream cache; kept when read outside a transaction."""
        assert self.cache is not None
        sql = self._load_sql if self.text_keys and keys else AFTER_SQL
        fetch = self.store.read_rows if conn is None else conn.fetch
        parse = self.read_with.parse if self.read_with is not None and sql is not AFTER_SQL else None
        return await self.cache.load(
            stream_id,
            lambda *args: fetch(sql, *args),
            lambda row, base: self.loaded_from(row, parse(row) if parse else None, base),
            keep=conn is None,
        )

    def _committed(self, stream_id: str, loaded: Loaded[S], result: CommandResult[S]) -> CommandResult[S]:
        """``result`` of a command on ``loaded`` (a committed load), once committed: cached."""
        if self.cache is not None:
            self.cache.appended(stream_id, loaded, result.state, result.events)
        return result

    @_logged
    async def execute(
        self,
        stream_id: str,
        command: C | MakeCommand[S, C],
        *,
        meta: Metadata,
        branch_id: str | None = None,
        expected_version: int | None = None,
        must_exist: bool = True,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
        fresh: bool = False,
        preloaded: Loaded[S] | None = None,
        lock_first: LockFirst | None = None,
    ) -> CommandResult[S]:
        """Run a command in its own transaction (one statement when there is no ``after_append``
        and no ``texts``).

        ``fresh``: a create on a stream id nobody can know yet (random, or derived from an
        idempotency key claimed first): nothing to lock (``lock_first``) or load; if the stream
        exists after all, the append's version check refuses it.

        ``preloaded``: the stream as the caller loaded it for this request (:meth:`load`, e.g. the
        route's branch check): the first attempt starts from it instead of loading again; a stream
        changed since is a conflict, retried on a fresh load as with any optimistic read. Not used
        with a ``lock_first`` (the stream is then read with, or after, the lock).

        ``lock_first`` (this command's, else the handler's): see :data:`LockFirst`.

        ``check_branch`` (the caller's ``Principal.check_branch``) is called with the stream's
        branch after loading and before anything is decided or appended: a command on another
        branch's resource fails (403) without a side effect. A command built inside the
        transaction (a ``make(conn, loaded)`` coroutine function), or any command of a handler
        with ``lock_first``, is decided in the transaction: see :meth:`_execute_locked`.
        """
        if preloaded is not None and preloaded.history and preloaded.history[0].stream_id != stream_id:
            raise ValueError(f"the stream preloaded is {preloaded.history[0].stream_id}, not {stream_id}")
        lock = lock_first or self.lock_first
        if callable(command) or lock is not None:
            return await self._execute_locked(
                stream_id,
                command,
                meta=meta,
                branch_id=branch_id,
                expected_version=expected_version,
                must_exist=must_exist,
                check_branch=check_branch,
                texts=texts,
                fresh=fresh,
                preloaded=None if lock is not None else preloaded,
                lock=lock,
            )
        for attempt in range(self.retries + 1):
            try:
                loaded = (preloaded if attempt == 0 else None) or await self.load(stream_id, keys=bool(texts))
                self._check(stream_id, loaded, branch_id, must_exist, check_branch)
                decision = self._decide(
                    stream_id, loaded, command, branch_id, meta, expected_version, must_exist
                )
                if self.after_append is None and self.after_change is None and not texts:
                    result = await self._append(None, stream_id, loaded, decision)
                    return self._committed(stream_id, loaded, result)
                if self.one_statement:
                    append = functools.partial(
                        self._append, stream_id=stream_id, loaded=loaded, decision=decision, texts=texts
                    )
                    return self._committed(stream_id, loaded, await self.store.one_statement(append))
                async with self.store.transaction() as conn:
                    result = await self._append(conn, stream_id, loaded, decision, texts)
                return self._committed(stream_id, loaded, result)
            except ConcurrencyError:
                self._count_conflict(expected_version, attempt)
        raise AssertionError("unreachable")

    async def _execute_locked(
        self,
        stream_id: str,
        command: C | MakeCommand[S, C],
        *,
        expected_version: int | None,
        fresh: bool,
        preloaded: Loaded[S] | None,
        lock: LockFirst | None,
        **kw: Any,
    ) -> CommandResult[S]:
        """Everything in ONE fresh transaction: the lock's rows (read, and the stream with them
        when the lock reads it), loading, building the command (it may read and lock rows the
        decision depends on, which then commit or roll back with the events), deciding,
        appending. A concurrent change is decided again on the fresh state (unless the client
        named the version it expects: then it is a 409); a deadlock or serialisation failure is
        run again. The transaction is the unit that is retried, so the command needs no savepoint
        of its own (``execute_in(savepoint=False, load=True)``)."""
        for attempt in range(self.retries + 1):
            try:
                async with self.store.transaction() as conn:
                    loaded = preloaded if attempt == 0 else None
                    if lock is not None and not fresh:  # a new stream has no rows to lock
                        keys = bool(kw.get("texts"))
                        locked = await lock(conn, stream_id, self.stream_sql(keys))
                        if locked.stream is not None:
                            loaded = self.loaded_from(locked.stream, locked.read)
                        else:
                            loaded = replace(await self.load(stream_id, conn, keys=keys), locked=locked.read)
                    return await self.execute_in(
                        conn,
                        stream_id,
                        command,
                        expected_version=expected_version,
                        savepoint=False,
                        load=not fresh,
                        preloaded=loaded,
                        **kw,
                    )
            except ConcurrencyError:
                self._count_conflict(expected_version, attempt)
            except _RETRY_DB:
                if attempt == self.retries:
                    raise
                COMMAND_CONFLICTS.labels(self.service, "retried").inc()
        raise AssertionError("unreachable")

    @_logged
    async def execute_in(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        command: C | MakeCommand[S, C],
        *,
        meta: Metadata,
        branch_id: str | None = None,
        expected_version: int | None = None,
        must_exist: bool = True,
        check_branch: CheckBranch | None = None,
        texts: PendingTexts | None = None,
        savepoint: bool = True,
        load: bool = False,
        preloaded: Loaded[S] | None = None,
    ) -> CommandResult[S]:
        """Run a command inside the caller's transaction ``conn`` (a reaction's, the scheduler's).

        Each attempt is a savepoint, so a concurrent change rolls back only this command, which is
        then decided again on the fresh state. ``command`` may be a coroutine function building the
        command from the loaded state inside the transaction (to read or lock rows it depends on).
        The caller commits, then should poke ``store.notifier`` so the relay wakes at once.
        ``check_branch`` runs after loading, before the command is built or decided (see
        :meth:`execute`).

        ``savepoint=False`` is for a create on a stream nobody else can know yet (a fresh or
        key-derived id, the key claimed first): no savepoint, no load (the stream is empty, and if
        it is not the append's version check refuses it), and a conflict is the caller's error.
        With ``load=True`` as well, the stream is loaded (or taken from ``preloaded``, what the
        caller read of it in this transaction) but still no savepoint is taken: for a caller that
        runs its whole transaction again on :class:`ConcurrencyError` (two round trips fewer; a
        queued append's conflict then comes from the caller's flush or commit).
        """
        if not savepoint:
            if not load:
                loaded = Loaded(self.decider.fold([]), 0, [])
            else:
                loaded = preloaded or await self.load(stream_id, conn, keys=bool(texts))
            self._check(stream_id, loaded, branch_id, must_exist, check_branch)
            made = await command(conn, loaded) if callable(command) else command
            decision = self._decide(stream_id, loaded, made, branch_id, meta, expected_version, must_exist)
            return await self._append(conn, stream_id, loaded, decision, texts)
        for attempt in range(self.retries + 1):
            try:
                await db_batch.flush(conn)  # writes queued before belong outside the savepoint
                async with conn.transaction():
                    loaded = await self.load(stream_id, conn, keys=bool(texts))
                    self._check(stream_id, loaded, branch_id, must_exist, check_branch)
                    if callable(command):
                        made = await command(conn, loaded)
                    else:
                        made = command
                    decision = self._decide(
                        stream_id, loaded, made, branch_id, meta, expected_version, must_exist
                    )
                    result = await self._append(conn, stream_id, loaded, decision, texts)
                    await db_batch.flush(conn)  # the append's conflict, if any, is this savepoint's
                    return result
            except ConcurrencyError:
                self._count_conflict(expected_version, attempt)
        raise AssertionError("unreachable")

    @staticmethod
    def _check(
        stream_id: str, loaded: Loaded[S], branch_id: str | None, must_exist: bool, check: CheckBranch | None
    ) -> None:
        """404 for a stream that must exist and does not; then the caller's branch check on the
        stream's branch (the branch of its first event; a new stream's is ``branch_id``)."""
        if must_exist and loaded.version == 0:
            raise NotFound(f"{stream_id} does not exist")
        if check is None:
            return
        branch = loaded.history[0].branch_id if loaded.history else branch_id
        if branch is None:
            raise ValueError(f"{stream_id}: no branch to check (a new stream needs a branch_id)")
        check(branch)

    def _count_conflict(self, expected_version: int | None, attempt: int) -> None:
        """Re-raise the conflict when the client named its version or retries are used up."""
        if expected_version is not None or attempt == self.retries:
            COMMAND_CONFLICTS.labels(self.service, "rejected").inc()
            raise
        COMMAND_CONFLICTS.labels(self.service, "retried").inc()

    def _decide(
        self,
        stream_id: str,
        loaded: Loaded[S],
        command: C,
        branch_id: str | None,
        meta: Metadata,
        expected_version: int | None,
        must_exist: bool,
    ) -> tuple[S, list[Envelope]]:
        if must_exist and loaded.version == 0:
            raise NotFound(f"{stream_id} does not exist")
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream_id, expected_version, loaded.version)
        decided = self.decider.decide(loaded.state, command)
        if not decided:
            return loaded.state, []
        branch = branch_id or (loaded.history[0].branch_id if loaded.history else None)
        if branch is None:
            raise ValueError("a new stream needs a branch_id")
        return (
            self.decider.fold(decided, loaded.state),
            self.envelopes(stream_id, loaded.version, branch, decided, meta),
        )

    async def _append(
        self,
        conn: asyncpg.Connection | None,
        stream_id: str,
        loaded: Loaded[S],
        decision: tuple[S, list[Envelope]],
        texts: PendingTexts | None = None,
    ) -> CommandResult[S]:
        state, envelopes = decision
        if not envelopes:
            return CommandResult(state, loaded.version, [])
        started = time.perf_counter()
        if texts:
            # the texts the events refer to, under the customer the stream is about (after this
            # decision: a new case names its customer), else under the branch
            assert conn is not None, "texts need a transaction"
            customer_ref = getattr(state, "customer_ref", None)
            await texts.save(
                conn, branch_id=envelopes[0].branch_id, customer_ref=customer_ref, keys=loaded.text_keys
            )
        written = None
        if self.after_change is not None:
            assert conn is not None, "after_change needs a transaction"
            await self.store.append_later(conn, stream_id, loaded.version, envelopes)
            written = await self.after_change(conn, loaded.state, state, envelopes, loaded.locked)
        else:
            await self.store.append(stream_id, loaded.version, envelopes, conn)
        if self.after_append is not None:
            assert conn is not None, "after_append needs a transaction"
            await self.after_append(conn, state, envelopes)
        self._append_seconds.observe(time.perf_counter() - started)
        self._events_appended.inc(len(envelopes))
        if log.isEnabledFor(logging.DEBUG):
            types = ", ".join(e.type for e in envelopes)
            log.debug("appended %s at version %d", types, loaded.version + len(envelopes))
        return CommandResult(state, loaded.version + len(envelopes), envelopes, written)

    def envelopes(
        self,
        stream_id: str,
        version: int,
        branch_id: str,
        events: Sequence[EventData],
        meta: Metadata,
    ) -> list[Envelope]:
        now = self.clock.now()
        envelopes = [
            envelope_of(
                event, stream_id=stream_id, version=version + n, branch_id=branch_id, meta=meta, at=now
            )
            for n, event in enumerate(events, start=1)
        ]
        # a decode of these (the projections', in the same transaction) is then the event itself
        return list(map(self.store.registry.encoded, envelopes, events))
