"""Command handling: load a stream, decide, append with optimistic concurrency — one transaction.

A command given an ``expected_version`` (the client's ``If-Match``) fails with
:class:`~shared.eventstore.ConcurrencyError` when someone else changed the stream meanwhile (a 409
for the client: nobody's edit is silently overwritten). Without one, a conflict is retried on the
fresh state a few times, because the decision is re-made on what is really there.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast
from uuid import uuid4

import asyncpg

from shared import db_batch
from shared.clock import Clock
from shared.decider import Decider, NotFound
from shared.envelope import Envelope, Metadata
from shared.eventstore import ConcurrencyError, EventStore
from shared.logs import bind
from shared.metrics import APPEND_SECONDS, COMMAND_CONFLICTS, EVENTS_APPENDED
from shared.registry import EventData

log = logging.getLogger(__name__)

S = TypeVar("S")
C = TypeVar("C")

AfterAppend = Callable[[asyncpg.Connection, S, Sequence[Envelope]], Awaitable[None]]
"""Extra writes of the same transaction (deadlines, lookup rows), given the new state."""

AfterChange = Callable[[asyncpg.Connection, S, S, Sequence[Envelope]], Awaitable[Any]]
"""Like :data:`AfterAppend`, given the state before and after; written with ``shared.db_batch``
in the append's own statement. What it returns comes back as :attr:`CommandResult.written`
(e.g. the deadlines it set: the answer needs no second read)."""


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


MakeCommand = Callable[[asyncpg.Connection, Loaded[S]], Awaitable[C]]
"""Builds a command from the loaded state inside the transaction (may read and lock rows)."""

CheckBranch = Callable[[str], None]
"""Raises (403) unless the caller may act in the given branch: ``Principal.check_branch``."""

LockFirst = Callable[[asyncpg.Connection, str], Awaitable[None]]
"""Locks rows a command's stream depends on (given the stream id) before the stream is loaded, so
every writer takes its locks in one order (e.g. reception's SLA deadlines, then its tickets)."""

#: a transaction the database gave up on (a lock cycle, a serialisation failure): run it again
_RETRY_DB = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class PendingTexts(Protocol):
    """Free texts a command refers to (``shared.texts.TextBatch``): saved in the command's own
    transaction, with its events, under the stream's customer (``state.customer_ref``) or branch."""

    def __bool__(self) -> bool: ...

    async def save(self, conn: asyncpg.Connection, *, branch_id: str, customer_ref: str | None) -> None: ...


async def stream_branch(store: EventStore, stream_id: str) -> str | None:
    """The branch of ``stream_id`` (every event of a stream names the same branch), or None."""
    rows = await store.read_rows(
        "SELECT branch_id FROM events WHERE stream_id = $1 AND stream_version = 1", stream_id
    )
    return str(rows[0]["branch_id"]) if rows else None


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


#: the stream :meth:`CommandHandler.branch_of` loaded in this task, for the command that follows
_PRELOADED: contextvars.ContextVar[tuple[Any, str, Loaded[Any]] | None] = contextvars.ContextVar(
    "branchcare_preloaded_stream", default=None
)


class CommandHandler(Generic[C, S]):
    def __init__(
        self,
        *,
        service: str,
        store: EventStore,
        decider: Decider[C, S],
        clock: Clock,
        after_append: AfterAppend[S] | None = None,
        after_change: AfterChange[S] | None = None,
        retries: int = 3,
        lock_first: LockFirst | None = None,
    ) -> None:
        """``after_append`` writes right after the append (its own statements); ``after_change``
        queues its writes (``shared.db_batch``) so that, in a transaction of
        :meth:`EventStore.transaction`, they and the append go to PostgreSQL as one statement at
        commit (the append's version check still decides: a conflict rolls all of it back).
        ``lock_first``: rows :meth:`execute` locks before it loads the stream (see
        :data:`LockFirst`); a command run in a caller's transaction (:meth:`execute_in`) leaves
        locking to that caller."""
        if after_append is not None and after_change is not None:
            raise ValueError("give after_append or after_change, not both")
        self.service = service
        self.store = store
        self.decider = decider
        self.clock = clock
        self.after_append = after_append
        self.after_change = after_change
        self.retries = retries
        self.lock_first = lock_first

    async def branch_of(self, stream_id: str) -> str | None:
        """The branch a stream belongs to (its first event's), None when it does not exist: what
        a route checks before it runs (``shared.auth.requires_on``).

        It loads the whole stream and keeps it for the request's command (:meth:`execute` in the
        same task starts from it): the check and the load are one round trip, not two. The
        command's append still checks the version, so a stream changed meanwhile is a conflict
        that is retried on a fresh load, as with any optimistic read."""
        loaded = await self.load(stream_id)
        _PRELOADED.set((self, stream_id, loaded))
        return loaded.history[0].branch_id if loaded.history else None

    def _preloaded(self, stream_id: str) -> Loaded[S] | None:
        kept = _PRELOADED.get()
        if kept is None or kept[0] is not self or kept[1] != stream_id:
            return None
        _PRELOADED.set(None)
        return cast(Loaded[S], kept[2])

    async def load(self, stream_id: str, conn: asyncpg.Connection | None = None) -> Loaded[S]:
        history = await self.store.read_stream(stream_id, conn)
        registry = self.store.registry
        state = self.decider.fold(registry.decode(e) for e in history)
        return Loaded(state, len(history), history)

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
    ) -> CommandResult[S]:
        """Run a command in its own transaction (one statement when there is no ``after_append``
        and no ``texts``).

        ``fresh``: a create on a stream id nobody can know yet (random, or derived from an
        idempotency key claimed first): nothing to lock (``lock_first``) or load; if the stream
        exists after all, the append's version check refuses it.

        ``check_branch`` (the caller's ``Principal.check_branch``) is called with the stream's
        branch after loading and before anything is decided or appended: a command on another
        branch's resource fails (403) without a side effect. A command built inside the
        transaction (a ``make(conn, loaded)`` coroutine function), or any command of a handler
        with ``lock_first``, is decided in the transaction: see :meth:`_execute_locked`.
        """
        if callable(command) or self.lock_first is not None:
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
            )
        for attempt in range(self.retries + 1):
            try:
                loaded = (attempt == 0 and self._preloaded(stream_id)) or await self.load(stream_id)
                self._check(stream_id, loaded, branch_id, must_exist, check_branch)
                decision = self._decide(
                    stream_id, loaded, command, branch_id, meta, expected_version, must_exist
                )
                if self.after_append is None and self.after_change is None and not texts:
                    return await self._append(None, stream_id, loaded, decision)
                async with self.store.transaction() as conn:
                    return await self._append(conn, stream_id, loaded, decision, texts)
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
        **kw: Any,
    ) -> CommandResult[S]:
        """Everything in ONE fresh transaction: the ``lock_first`` rows, loading, building the
        command (it may read and lock rows the decision depends on, which then commit or roll back
        with the events), deciding, appending. A concurrent change is decided again on the fresh
        state (unless the client named the version it expects: then it is a 409); a deadlock or
        serialisation failure is run again. The transaction is the unit that is retried, so the
        command needs no savepoint of its own (``execute_in(savepoint=False, load=True)``)."""
        for attempt in range(self.retries + 1):
            try:
                async with self.store.transaction() as conn:
                    if self.lock_first is not None and not fresh:  # a new stream has no rows to lock
                        await self.lock_first(conn, stream_id)
                    return await self.execute_in(
                        conn,
                        stream_id,
                        command,
                        expected_version=expected_version,
                        savepoint=False,
                        load=not fresh,
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
        With ``load=True`` as well, the stream is loaded but still no savepoint is taken: for a
        caller that runs its whole transaction again on :class:`ConcurrencyError` (two round trips
        fewer; a queued append's conflict then comes from the caller's flush or commit).
        """
        if not savepoint:
            loaded = await self.load(stream_id, conn) if load else self._empty()
            self._check(stream_id, loaded, branch_id, must_exist, check_branch)
            made = await command(conn, loaded) if callable(command) else command
            decision = self._decide(stream_id, loaded, made, branch_id, meta, expected_version, must_exist)
            return await self._append(conn, stream_id, loaded, decision, texts)
        for attempt in range(self.retries + 1):
            try:
                await db_batch.flush(conn)  # writes queued before belong outside the savepoint
                async with conn.transaction():
                    loaded = await self.load(stream_id, conn)
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

    def _empty(self) -> Loaded[S]:
        return Loaded(self.decider.fold([]), 0, [])

    @staticmethod
    def _check(
        stream_id: str,
        loaded: Loaded[S],
        branch_id: str | None,
        must_exist: bool,
        check_branch: CheckBranch | None,
    ) -> None:
        """404 for a stream that must exist and does not; then the caller's branch check on the
        stream's branch (the branch of its first event; a new stream's is ``branch_id``)."""
        if must_exist and loaded.version == 0:
            raise NotFound(f"{stream_id} does not exist")
        if check_branch is None:
            return
        branch = loaded.history[0].branch_id if loaded.history else branch_id
        if branch is None:
            raise ValueError(f"{stream_id}: no branch to check (a new stream needs a branch_id)")
        check_branch(branch)

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
            await texts.save(conn, branch_id=envelopes[0].branch_id, customer_ref=customer_ref)
        written = None
        if self.after_change is not None:
            assert conn is not None, "after_change needs a transaction"
            await self.store.append_later(conn, stream_id, loaded.version, envelopes)
            written = await self.after_change(conn, loaded.state, state, envelopes)
        else:
            await self.store.append(stream_id, loaded.version, envelopes, conn)
        if self.after_append is not None:
            assert conn is not None, "after_append needs a transaction"
            await self.after_append(conn, state, envelopes)
        APPEND_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        EVENTS_APPENDED.labels(self.service).inc(len(envelopes))
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
        return [
            Envelope(
                event_id=uuid4(),
                type=event.event_type,
                schema_version=event.schema_version,
                stream_id=stream_id,
                stream_version=version + offset,
                branch_id=branch_id,
                occurred_at=now,
                recorded_at=now,
                correlation_id=meta.correlation_id,
                causation_id=meta.causation_id,
                actor=meta.actor,
                data=event.model_dump(mode="json"),
            )
            for offset, event in enumerate(events, start=1)
        ]
