"""A customer's survey-channel preference, whichever of their refs it was set under.

After a duplicate merge the preference set under the merged ref or under the survivor is the one
customer's: the ref asked about wins, else the latest set under any ref the vault merged into one
customer (``shared/customer_aliases.py``); after a reversal each ref has its own again.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.customer_aliases import same_customer_sql

_PREFERENCE = f"""
SELECT channel, updated_at FROM customer_preferences WHERE customer_ref IN {same_customer_sql("$1")}
ORDER BY customer_ref = $1 DESC, updated_at DESC LIMIT 1"""


async def preferred_channel(conn: asyncpg.Connection, customer_ref: str) -> tuple[str, datetime] | None:
    """(channel, when it was set) of the customer, or None when they never chose."""
    row = await conn.fetchrow(_PREFERENCE, customer_ref)
    return (str(row["channel"]), row["updated_at"]) if row is not None else None
