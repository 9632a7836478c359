"""Ticket numbers: unique per branch, service line and local day, also under concurrent arrivals.

The counter row is incremented by ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING``: atomic, so two
issuers never get the same number. Where the increment commits depends on the command:

- **in the command's transaction** (a visit's ``queue`` step, an arrival with an
  ``Idempotency-Key``, whose claim must commit with the visit): the row lock serialises concurrent
  issuers of the same line until commit, and a command that fails rolls its number back.
- **on its own, before the command's one statement** (an arrival without a key, issue 19: the
  ticket machine's hot path; ``Reception.arrive``): the increment is its own autocommit statement,
  the row locked only for that statement, and the visit's events, rows and wait clock then go as
  one statement (``shared.one_statement``): two round trips instead of four (``BEGIN``, number,
  writes, ``COMMIT``), and concurrent arrivals of a line no longer wait for each other's commit.

Decision (the issue is silent): **a number may be skipped, never duplicated**. A bank's ticket
dispenser that skips a number is normal (customers never wait for a number nobody holds: the
lobby calls by queue order); one printed twice is not. A refused arrival takes no number (it is
decided without one first); a number is skipped only when the arrival fails after taking it
(the database lost mid-command, an outcome unknown): the counter has moved on and nobody holds it.
A command run again because its statement never ran (a stale pooled connection, a text key found
to exist: ``shared.one_statement.run``) keeps the number it took (:class:`Taken`), so even that
skips none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

_NEXT = """
INSERT INTO ticket_counters (branch_id, line, day, last_number) VALUES ($1, $2, $3, 1)
ON CONFLICT (branch_id, line, day) DO UPDATE SET last_number = ticket_counters.last_number + 1
RETURNING last_number
"""


async def next_number(conn: asyncpg.Connection, branch_id: str, line: str, day: date) -> int:
    """The next ticket number of the line today; inside the transaction that uses it, or on its
    own (outside a transaction: then it is committed at once, see :func:`take`)."""
    return int(await conn.fetchval(_NEXT, branch_id, line, day))


@dataclass
class Taken:
    """The number one command took by a statement of its own (committed), for the command's
    re-runs: nobody else can hold it, and the command's events never went out with it."""

    key: tuple[str, str, date] | None = None
    number: int = 0


async def take(conn: asyncpg.Connection, branch_id: str, line: str, day: date, taken: Taken) -> int:
    """The command's ticket number: the one it already took on its own (``taken``), else the next
    (:func:`next_number`), kept in ``taken`` when it committed by itself (outside a transaction;
    one taken in a transaction rolls back with it, so a re-run must take another)."""
    key = (branch_id, line, day)
    if taken.key == key:
        return taken.number
    number = await next_number(conn, branch_id, line, day)
    if not conn.is_in_transaction():
        taken.key, taken.number = key, number
    return number
