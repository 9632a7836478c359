"""call-next in one transaction (issue 19): its first statement picks the next visit of the line
from the lobby board, locks the visit's deadline rows and the counter's row and reads the visit's
and (when the call may open it) the counter's streams (``locks.pick_for_call``). The look-up is
no longer a round trip, and a pool checkout, of its own before the command's transaction.

A visit another counter called meanwhile fails the attempt (the append's version check, or its
stream no longer queued): the next attempt picks afresh, leaving out a visit whose stream said it
is not waiting, as ``CommandHandler.execute`` retries a conflict on the fresh state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from services.reception import decider as v
from services.reception import locks
from services.reception.metrics import observe
from shared.commands import CheckBranch, CommandResult
from shared.decider import DomainError, NotFound
from shared.envelope import Metadata
from shared.eventstore import ConcurrencyError
from shared.metrics import COMMAND_CONFLICTS

if TYPE_CHECKING:
    from services.reception.app import Reception

#: attempts before call-next answers that the line is too busy
ATTEMPTS = 10
#: a transaction the database gave up on (a lock cycle, a serialisation failure): run it again
_RETRY_DB = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class VisitTaken(Exception):
    """call-next picked a visit another counter called meanwhile: take the next one."""


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
    in one transaction (``Reception.call`` decides the call); ``Reception.call_next`` is this."""
    if line not in app.catalogue.lines:
        raise NotFound(f"line {line} does not exist (lines: {', '.join(app.catalogue.lines)})")
    call = app.call(counter_id, staff_id, meta=meta, only_if_queued=True)
    passed: list[UUID] = []
    for _ in range(ATTEMPTS):
        try:
            async with app.store.transaction() as conn:
                picked = await locks.pick_for_call(
                    conn, app.deadlines, app.counters, branch_id, line, counter_id, app.clock.now(), passed
                )
                if picked is None:
                    raise NotFound(f"nobody is waiting on line {line}")
                stream_id, locked = picked
                loaded = app.visits.loaded_from(locked.stream or {}, locked.read)
                try:
                    result = await app.visits.execute_in(
                        conn,
                        stream_id,
                        call,
                        meta=meta,
                        check_branch=check_branch,
                        savepoint=False,  # the transaction is the unit retried
                        load=True,
                        preloaded=loaded,
                    )
                except VisitTaken:
                    passed.append(UUID(locks.subject_of(stream_id)))
                    raise
        except (VisitTaken, ConcurrencyError, *_RETRY_DB):
            COMMAND_CONFLICTS.labels(app.visits.service, "retried").inc()
            continue
        observe(result.events)  # the committed events' metrics, after the transaction
        return result
    raise DomainError(f"line {line} is too busy to pick the next customer; try again")
