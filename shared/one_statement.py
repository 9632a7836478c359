"""A command's writes as one statement with no ``BEGIN`` and no ``COMMIT``: two round trips fewer.

A command whose writes are all queued (``shared.db_batch``: texts, deadlines, board row, audit
row, the append last) and whose reads lock nothing needs no explicit transaction: the queued
writes and the append go to PostgreSQL as ONE statement, which runs in PostgreSQL's implicit
transaction — all of it commits, or none of it. What it reads before (the stream, the case's
deadlines, a customer's text key) it reads as in a transaction at READ COMMITTED, where every
statement sees the latest committed rows anyway; nothing is locked either way. A customer's text
key created by its read-or-create statement commits on its own: a key without texts (the command
failed after it) is what a concurrent command would have found and used.

The append's version check must then abort the whole statement, not only skip its own insert
(a transaction would be rolled back by the caller; an implicit one commits what ran): appended
on a connection outside a transaction, :meth:`shared.eventstore.EventStore.append_later` sends
:data:`APPEND_OR_ABORT`, whose answer raises (a cast that fails, naming the stream's version)
when the events were not inserted; :func:`refused_append` reads the error back as the
:class:`~shared.eventstore.ConcurrencyError` the transaction's check would have raised.

A text's data key the command needs and nobody read yet (a new customer's) is created in the same
statement (``shared.texts``, :data:`NEW_KEYS`): a plain INSERT of the key, which aborts the
statement when the owner has a key after all; the command then runs again, the key read (or
created) first by a statement of its own, as in a transaction. One round trip for a new
customer's complaint.

Used through :meth:`~shared.eventstore.EventStore.one_statement`, which runs the work again once
on a fresh connection when nothing was recorded because the pooled connection was stale (what a
transaction's ``BEGIN`` retry does), and once after a key was found there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from shared import db_batch
from shared.dbfaults import DatabaseUnavailable, OutcomeUnknown, is_broken_connection, proves_nothing_ran

if TYPE_CHECKING:
    from shared.eventstore import ConcurrencyError, EventStore

log = logging.getLogger(__name__)

T = TypeVar("T")

#: whether a data key a command's texts need may be created in its one statement
#: (``shared.texts``: a plain INSERT, which a key already there makes abort the statement); off
#: for the command's second run, which reads (or creates) the key first
NEW_KEYS: ContextVar[bool] = ContextVar("one_statement_new_keys", default=True)

#: the text an :func:`aborting` append casts when it refused (``shared.append_many`` too)
APPEND_REFUSED = "branchcare: append refused"
_REFUSED = re.compile(
    re.escape(APPEND_REFUSED) + r" (?P<stream>.+) (?P<expected>\d+) (?P<current>\d+) (?P<order>true|false)"
)


def aborting(append_sql: str, count_param: int) -> str:
    """``append_sql`` (``shared.eventstore``'s append) whose answer aborts the statement when the
    events were not inserted: its last ``SELECT`` replaced by one that casts a text naming the
    stream, the expected and the current version to ``int`` in that case."""
    head, select, _ = append_sql.rpartition("SELECT (SELECT v FROM cur) AS current")
    if not select:
        raise ValueError("not the event store's append statement")
    n = f"${count_param}"
    return (
        head
        + f"""SELECT CASE WHEN (SELECT count(*) FROM ins) = {n}::bigint THEN (SELECT v FROM cur)
       ELSE ('{APPEND_REFUSED} ' || $1 || ' ' || $2 || ' ' || (SELECT v FROM cur) || ' '
             || (SELECT in_log_order FROM cur))::int END AS current,
       true AS in_log_order, {n}::bigint AS inserted
"""
    )


def aborted_by(exc: BaseException, marker: str) -> bool:
    """Whether ``exc`` is a statement aborted by a guard's failing cast of a text naming
    ``marker``: how a write in a statement without a transaction refuses all of it when what it
    depends on moved (the append's version check here, a counter's row, a complaint's row)."""
    return isinstance(exc, asyncpg.InvalidTextRepresentationError) and marker in str(exc)


def refused_append(exc: BaseException) -> ConcurrencyError | None:
    """The :class:`~shared.eventstore.ConcurrencyError` an aborted :func:`aborting` append means
    (None: ``exc`` is another error)."""
    from shared.eventstore import ConcurrencyError

    if not isinstance(exc, asyncpg.InvalidTextRepresentationError):
        return None
    found = _REFUSED.search(str(exc))
    if found is None:
        return None
    stream, expected, current = found["stream"], int(found["expected"]), int(found["current"])
    if found["order"] == "false" and current == expected:
        log.info("stream %s was last written by a younger transaction; retry afresh", stream)
    return ConcurrencyError(stream, expected, current)


@asynccontextmanager
async def statement(store: EventStore) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection outside any transaction, with a batch open: what the block queues (and
    the store's ``before_commit`` after it) is sent as one statement when it ends. Faults as
    :meth:`EventStore.transaction` reports them: :class:`DatabaseUnavailable` when nothing was
    recorded, :class:`OutcomeUnknown` when the connection broke while the statement ran. A session
    the relay's horizon counts only by the writers' lock it takes (not the service's pool: see
    ``EventStore._counted_by_name``) gets a transaction instead."""
    conn = await store._acquire()
    if not store._counted_by_name(conn):  # the horizon must see its lock first: a transaction
        await store.pool.release(conn)
        async with store.transaction() as conn:
            yield conn
        return
    before_commit_ran = sending = False
    try:
        try:
            with db_batch.opened(conn):
                yield conn
                if conn.is_in_transaction():
                    raise RuntimeError("a one-statement command opened a transaction")
                if store.before_commit is not None:
                    before_commit_ran = True
                    await store.before_commit(conn)
                sending = True
                await db_batch.flush(conn)  # the one statement: all of it commits, or none
        except BaseException as exc:
            if before_commit_ran and store.commit_failed is not None:
                store.commit_failed()  # what it queued went nowhere (or may have: outcome unknown)
            refused = refused_append(exc)
            if refused is not None:
                raise refused from None
            if not is_broken_connection(exc):
                raise
            if sending and not proves_nothing_ran(exc):
                raise OutcomeUnknown(f"connection lost during the command's statement: {exc!r}") from exc
            raise DatabaseUnavailable(f"command not recorded: {exc!r}") from exc
    finally:
        await store.pool.release(conn)
    store.notifier.poke()


async def run(store: EventStore, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``work(conn)`` in :func:`statement`; run once more on a fresh connection when the pooled
    one turned out stale (a :class:`DatabaseUnavailable`: nothing was recorded), and once more
    with keys read first when a data key created in the statement was already there (its unique
    violation aborted the statement: nothing was recorded either)."""
    stale_retried = False
    token = None
    try:
        while True:
            try:
                async with statement(store) as conn:
                    return await work(conn)
            except DatabaseUnavailable:
                if stale_retried:
                    raise
                stale_retried = True
                log.info("pooled connection broken before the command's statement; retrying once")
                await store.pool.expire_connections()
            except asyncpg.UniqueViolationError as exc:
                if exc.table_name != "text_keys" or not NEW_KEYS.get():
                    raise
                token = NEW_KEYS.set(False)  # the owner has a key (or had one): read it first
    finally:
        if token is not None:
            NEW_KEYS.reset(token)
