"""call-next in two round trips (issue 19), no ``BEGIN`` and no ``COMMIT``: its first statement
picks the next visit of the line from the lobby board and reads the visit's deadline rows and
stream, the counter's row and (when the call may open it) the counter's stream
(``locks.pick_for_call``); the call is decided on that, and its writes — the visit's event (and the
counter's, when the call opens it), the lobby and counter rows, the wait clock, the audit row — go
as one statement (``shared.one_statement``), which commits all of it or nothing.

Nothing is locked in between (it was: ``BEGIN``, the same read ``FOR UPDATE``, the writes,
``COMMIT``, four round trips). What the locks guaranteed, that statement's own checks guarantee:

- **the same visit never called twice**, and a visit the SLA scheduler fired a milestone on
  meanwhile never written over with a stale deadline row: both append to the visit's stream, so
  the append's version check refuses the later one and aborts the whole statement;
- **a counter never calls two customers, and never calls once paused or closed**: the call's write
  of the counter's row checks the row is still as the first statement read it (a concurrent call,
  pause or close changes it) and aborts the statement otherwise (``projections.COUNTER_MOVED``);
  a counter the call opens is moved by the counter stream's append as well, checked the same way.

An attempt refused so (or picking a visit whose stream says it is no longer waiting) is run
again from a fresh pick, leaving out a visit its stream said is not waiting, as
``CommandHandler.execute`` retries a conflict on the fresh state; so is one the database broke off
(a deadlock with the SLA scheduler, which locks a deadline row and then appends).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from services.reception import decider as v
from services.reception import locks
from services.reception.command_types import VisitStep
from services.reception.metrics import observe
from services.reception.projections import COUNTER_MOVED
from shared import one_statement
from shared.commands import CheckBranch, CommandResult
from shared.decider import DomainError, NotFound
from shared.envelope import Metadata
from shared.eventstore import ConcurrencyError
from shared.metrics import COMMAND_CONFLICTS

if TYPE_CHECKING:
    from services.reception.app import Reception

#: attempts before call-next answers that the line is too busy
ATTEMPTS = 10
#: a statement the database gave up on (a lock cycle, a serialisation failure): run it again
_RETRY_DB = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class VisitTaken(Exception):
    """call-next picked a visit another counter called meanwhile: take the next one."""


def counter_moved(exc: BaseException) -> bool:
    """Whether ``exc`` is a call's statement aborted because its counter's row moved since it was
    read (``projections.COUNTER_MOVED``)."""
    return one_statement.aborted_by(exc, COUNTER_MOVED)


async def next_in_line(
    app: Reception,
    branch_id: str,
    line: str,
    counter_id: str,
    staff_id: str,
    *,
    meta: Metadata,
    check_branch: CheckBranch | None = None,
) -> CommandResult[v.Visit]:
    """Call the next customer of ``line`` to the counter: priority first, then by ticket order,
    in one statement after the pick (``Reception.call`` decides the call); ``Reception.call_next``
    is this."""
    if line not in app.catalogue.lines:
        raise NotFound(f"line {line} does not exist (lines: {', '.join(app.catalogue.lines)})")
    call = app.call(counter_id, staff_id, meta=meta, only_if_queued=True)
    passed: list[UUID] = []
    attempt = partial(
        _attempt,
        app,
        call=call,
        branch_id=branch_id,
        line=line,
        counter_id=counter_id,
        passed=passed,
        meta=meta,
        check_branch=check_branch,
    )
    for _ in range(ATTEMPTS):
        try:
            result = await app.store.one_statement(attempt)
        except asyncpg.InvalidTextRepresentationError as exc:
            if not counter_moved(exc):
                raise
        except (VisitTaken, ConcurrencyError, *_RETRY_DB):
            pass
        else:
            observe(result.events)  # the committed events' metrics, after the statement
            return result
        COMMAND_CONFLICTS.labels(app.visits.service, "retried").inc()
    raise DomainError(f"line {line} is too busy to pick the next customer; try again")


async def _attempt(
    app: Reception,
    conn: asyncpg.Connection,
    *,
    call: VisitStep,
    branch_id: str,
    line: str,
    counter_id: str,
    passed: list[UUID],
    meta: Metadata,
    check_branch: CheckBranch | None,
) -> CommandResult[v.Visit]:
    """One attempt: the pick (a statement of its own, locking nothing), then the call decided on
    what it read, its writes queued for the one statement that ends the attempt."""
    picked = await locks.pick_for_call(
        conn, app.deadlines, app.counters, branch_id, line, counter_id, app.clock.now(), passed
    )
    if picked is None:
        raise NotFound(f"nobody is waiting on line {line}")
    stream_id, read = picked
    loaded = app.visits.loaded_from(read.stream or {}, read.read)
    try:
        return await app.visits.execute_in(
            conn,
            stream_id,
            call,
            meta=meta,
            check_branch=check_branch,
            savepoint=False,  # the attempt is the unit retried
            load=True,
            preloaded=loaded,
        )
    except VisitTaken:
        passed.append(UUID(locks.subject_of(stream_id)))
        raise
