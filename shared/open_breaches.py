"""The ``open_breaches`` table two read sides keep (the branch side's hqfeed, HQ): SLA breaches
still open, one row per (subject, SLA), so "breaching now" is a count and not a scan of history.

Each service has the table in its own schema (its own migration); this is the one way a batch's
changes are written to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import datetime

import asyncpg

#: (subject id, SLA)
BreachKey = tuple[str, str]
#: (branch id, subject type, breached at)
BreachInfo = tuple[str, str, datetime]


async def save_open_breaches(
    conn: asyncpg.Connection, deleted: Set[BreachKey], added: Mapping[BreachKey, BreachInfo]
) -> None:
    """Deletions first: a breach closed and opened again within the batch is the new one."""
    if deleted:
        gone = sorted(deleted)
        await conn.execute(
            """DELETE FROM open_breaches o USING unnest($1::text[], $2::text[]) AS d(subject_id, sla)
               WHERE o.subject_id = d.subject_id AND o.sla = d.sla""",
            [k[0] for k in gone],
            [k[1] for k in gone],
        )
    if added:
        keys = sorted(added)
        info = [added[k] for k in keys]
        await conn.execute(
            """INSERT INTO open_breaches (subject_id, sla, branch_id, subject_type, breached_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
               ON CONFLICT DO NOTHING""",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [i[0] for i in info],
            [i[1] for i in info],
            [i[2] for i in info],
        )
