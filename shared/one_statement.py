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

Used through :meth:`~shared.eventstore.EventStore.one_statement`, which runs the work again once
on a fresh connection when nothing was recorded because the pooled connection was stale (what a
transaction's ``BEGIN`` retry does).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from shared import db_batch
from shared.dbfaults import DatabaseUnavailable, OutcomeUnknown, is_broken_connection, proves_nothing_ran

if TYPE_CHECKING:
    from shared.eventstore import ConcurrencyError, EventStore

log = logging.getLogger(__name__)

T = TypeVar("T")

_MARK = "branchcare: append refused"
_REFUSED = re.compile(
    re.escape(_MARK) + r" (?P<stream>.+) (?P<expected>\d+) (?P<current>\d+) (?P<order>true|false)"
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
       ELSE ('{_MARK} ' || $1 || ' ' || $2 || ' ' || (SELECT v FROM cur) || ' '
             || (SELECT in_log_order FROM cur))::int END AS current,
       true AS in_log_order, {n}::bigint AS inserted
"""
    )


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
    one turned out stale (a :class:`DatabaseUnavailable`: nothing was recorded)."""
    for attempt in (1, 2):
        try:
            async with statement(store) as conn:
                return await work(conn)
        except DatabaseUnavailable:
            if attempt == 2:
                raise
            log.info("pooled connection broken before the command's statement; retrying once")
            await store.pool.expire_connections()
    raise AssertionError("unreachable")
