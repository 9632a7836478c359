"""One customer under two refs: the read-model side of the vault's duplicate merge.

A read model keyed by customer keeps its rows under the ref each event named and resolves refs
**when it queries**, through ``customer_aliases`` (each service that joins adds the table
``customer_aliases(merged_ref PK, survivor_ref, since)`` in its own migration, as complaint's
``0003_customer_aliases.sql`` does). ``CustomersMerged`` inserts
``merged_ref → survivor_ref``; ``CustomerMergeReversed`` deletes it. Both are idempotent, so a
redelivery or a rebuild from the topics ends with exactly the aliases the history says, and the
joins follow: a complaint under the merged ref and one under the survivor are one complainant's
from the merge on, and two again after a reversal.

Use :func:`same_customer_sql` in a WHERE clause: ``customer_ref IN (<refs equivalent to $n>)``,
or :func:`customer_groups` to resolve many refs at once (merges of merges included), as HQ's
repeat-complainant detection does.

**Order.** Topics are keyed by branch, so a merge recorded at one branch and its reversal at another
may reach a consumer in either order (two partitions, or one aggregator batch). Applying them as
they come is then wrong. :func:`record_alias_facts` is order-free: it keeps every merge and reversal
in ``customer_alias_facts(merged_ref, survivor_ref, at, merged)`` and sets each touched ref's alias
from its latest fact by the vault's time (a reversal wins a tie), so any arrival order, a
redelivery or a rebuild ends with the same aliases. HQ uses it (``CustomerRefsMerged`` /
``CustomerRefsMergeReversed`` of ``hqfeed.events.v1``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.contracts.customers import CustomerMergeReversed, CustomersMerged


def same_customer_sql(param: str) -> str:
    """SQL (a sub-select) of every ref that means the same customer as the ref in ``param``
    (e.g. ``"$1"``): itself, its survivor, and every ref merged into either."""
    canonical = f"coalesce((SELECT survivor_ref FROM customer_aliases WHERE merged_ref = {param}), {param})"
    return (
        f"(SELECT {canonical} UNION SELECT merged_ref FROM customer_aliases WHERE survivor_ref = {canonical})"
    )


_GROUPS_SQL = """
WITH RECURSIVE up(ref, cur) AS (
    SELECT r, r FROM unnest($1::text[]) AS r
    UNION
    SELECT up.ref, a.survivor_ref FROM up JOIN customer_aliases a ON a.merged_ref = up.cur
), roots AS (
    SELECT DISTINCT cur AS root FROM up
    WHERE NOT EXISTS (SELECT 1 FROM customer_aliases a WHERE a.merged_ref = up.cur)
), down(root, ref) AS (
    SELECT root, root FROM roots
    UNION
    SELECT down.root, a.merged_ref FROM down JOIN customer_aliases a ON a.survivor_ref = down.ref
)
SELECT ref, root FROM down
"""


async def customer_groups(conn: asyncpg.Connection, refs: Collection[str]) -> dict[str, str]:
    """Every ref that means the same customer as one of ``refs`` → the customer's surviving ref
    (following merges of merges to the end). Each of ``refs`` is a key (itself when unmerged)."""
    rows = await conn.fetch(_GROUPS_SQL, sorted(set(refs)))
    out = {r["ref"]: r["root"] for r in rows}
    for ref in refs:  # only a cycle, which the vault's rules exclude, leaves a ref without a root
        out.setdefault(ref, ref)
    return out


@dataclass(frozen=True)
class AliasFact:
    """A merge (``merged=True``) of ``merged_ref`` into ``survivor_ref`` at ``at``, or its reversal."""

    merged: bool
    merged_ref: str
    survivor_ref: str
    at: datetime


_FACTS_SQL = """
INSERT INTO customer_alias_facts (merged_ref, survivor_ref, at, merged)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[]) ON CONFLICT DO NOTHING
"""
_DERIVE_SQL = """
INSERT INTO customer_aliases (merged_ref, survivor_ref, since)
SELECT merged_ref, survivor_ref, at FROM (
    SELECT DISTINCT ON (merged_ref) merged_ref, survivor_ref, at, merged FROM customer_alias_facts
    WHERE merged_ref = ANY($1::text[]) ORDER BY merged_ref, at DESC, merged ASC
) latest WHERE merged
"""


async def record_alias_facts(conn: asyncpg.Connection, facts: Sequence[AliasFact]) -> None:
    """Keep these merges / reversals and set the aliases of the refs they name from each ref's
    latest fact: the result does not depend on the order facts arrive in (see the module doc)."""
    await conn.execute(
        _FACTS_SQL,
        [f.merged_ref for f in facts],
        [f.survivor_ref for f in facts],
        [f.at for f in facts],
        [f.merged for f in facts],
    )
    refs = sorted({f.merged_ref for f in facts})
    await conn.execute("DELETE FROM customer_aliases WHERE merged_ref = ANY($1::text[])", refs)
    await conn.execute(_DERIVE_SQL, refs)


async def add_alias(conn: asyncpg.Connection, merged_ref: str, survivor_ref: str, since: datetime) -> None:
    """``merged_ref`` means ``survivor_ref`` from ``since`` on (idempotent)."""
    await conn.execute(
        """INSERT INTO customer_aliases (merged_ref, survivor_ref, since) VALUES ($1, $2, $3)
           ON CONFLICT (merged_ref) DO UPDATE
               SET survivor_ref = EXCLUDED.survivor_ref, since = EXCLUDED.since""",
        merged_ref,
        survivor_ref,
        since,
    )


async def drop_alias(conn: asyncpg.Connection, merged_ref: str, survivor_ref: str) -> None:
    """The merge of ``merged_ref`` into ``survivor_ref`` is undone (idempotent)."""
    await conn.execute(
        "DELETE FROM customer_aliases WHERE merged_ref = $1 AND survivor_ref = $2", merged_ref, survivor_ref
    )


async def apply_merged(conn: asyncpg.Connection, event: CustomersMerged) -> None:
    await add_alias(conn, event.merged_ref, event.survivor_ref, event.at)


async def apply_reversed(conn: asyncpg.Connection, event: CustomerMergeReversed) -> None:
    await drop_alias(conn, event.merged_ref, event.survivor_ref)
