"""Ticket numbers: unique per branch, service line and local day, also under concurrent arrivals.

The counter row is incremented by ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` inside the
command's transaction: the row lock serialises concurrent issuers of the same line for the few
microseconds until commit, and a command that fails rolls its number back (no gaps from refusals).
"""

from __future__ import annotations

from datetime import date

import asyncpg

_NEXT = """
INSERT INTO ticket_counters (branch_id, line, day, last_number) VALUES ($1, $2, $3, 1)
ON CONFLICT (branch_id, line, day) DO UPDATE SET last_number = ticket_counters.last_number + 1
RETURNING last_number
"""


async def next_number(conn: asyncpg.Connection, branch_id: str, line: str, day: date) -> int:
    """The next ticket number of the line today; call inside the transaction that uses it."""
    return int(await conn.fetchval(_NEXT, branch_id, line, day))
