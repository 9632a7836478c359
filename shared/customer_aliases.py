"""One customer under two refs: the read-model side of the vault's duplicate merge.

A read model keyed by customer keeps its rows under the ref each event named and resolves refs
**when it queries**, through ``customer_aliases`` (each service that joins adds the table
``customer_aliases(merged_ref PK, survivor_ref, since)`` in its own migration, as complaint's
``0003_customer_aliases.sql`` does). ``CustomersMerged`` inserts
``merged_ref → survivor_ref``; ``CustomerMergeReversed`` deletes it. Both are idempotent, so a
redelivery or a rebuild from the topics ends with exactly the aliases the history says, and the
joins follow: a complaint under the merged ref and one under the survivor are one complainant's
from the merge on, and two again after a reversal.

Use :func:`same_customer_sql` in a WHERE clause: ``customer_ref IN (<refs equivalent to $n>)``.
"""

from __future__ import annotations

import asyncpg

from shared.contracts.customers import CustomerMergeReversed, CustomersMerged


def same_customer_sql(param: str) -> str:
    """SQL (a sub-select) of every ref that means the same customer as the ref in ``param``
    (e.g. ``"$1"``): itself, its survivor, and every ref merged into either."""
    canonical = f"coalesce((SELECT survivor_ref FROM customer_aliases WHERE merged_ref = {param}), {param})"
    return (
        f"(SELECT {canonical} UNION SELECT merged_ref FROM customer_aliases WHERE survivor_ref = {canonical})"
    )


async def apply_merged(conn: asyncpg.Connection, event: CustomersMerged) -> None:
    await conn.execute(
        """INSERT INTO customer_aliases (merged_ref, survivor_ref, since) VALUES ($1, $2, $3)
           ON CONFLICT (merged_ref) DO UPDATE
               SET survivor_ref = EXCLUDED.survivor_ref, since = EXCLUDED.since""",
        event.merged_ref,
        event.survivor_ref,
        event.at,
    )


async def apply_reversed(conn: asyncpg.Connection, event: CustomerMergeReversed) -> None:
    await conn.execute(
        "DELETE FROM customer_aliases WHERE merged_ref = $1 AND survivor_ref = $2",
        event.merged_ref,
        event.survivor_ref,
    )
