"""One customer under two refs: the read-model side of the vault's duplicate merge — one
mechanism for every read model that keys by customer (complaint, follow-up, feedback, HQ).

A read model keyed by customer keeps its rows under the ref each event named and resolves refs
**when it queries**, through two tables its own migration adds (as complaint's
``0004_customer_alias_facts.sql``): ``customer_alias_facts`` (every merge and reversal it was told
of) and ``customer_aliases(merged_ref PK, survivor_ref, since)`` derived from them. Because nothing
is rewritten, a merge arriving before or after the rows it affects gives the same answers.

**Order.** Topics are keyed by branch, so a merge recorded at one branch and its reversal at another
may reach a consumer in either order (two partitions, or one aggregator batch): applying them as
they come is wrong. :func:`record_alias_facts` keeps every fact and derives each touched ref's alias
with the pure :func:`latest_aliases` (facts folded in the vault's time order, a reversal winning a
tie), so any arrival order, a redelivery or a rebuild ends with the same aliases.

**Chains.** A→B then B→C makes A, B and C one customer: :func:`same_customer_sql` (a WHERE clause:
``customer_ref IN (<refs equivalent to $n>)``), :func:`customer_groups` (many refs at once) and the
pure :func:`root_of` follow merges of merges to the end; reversing B→C separates C again and leaves
A with B.

Fed by reception's ``CustomersMerged`` / ``CustomerMergeReversed`` (:func:`record_event`; complaint,
follow-up, feedback) or HQ's contract (``CustomerRefsMerged`` / ``CustomerRefsMergeReversed``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.contracts.customers import CustomerMergeReversed, CustomersMerged
from shared.envelope import Envelope
from shared.projection import EventHandlers

#: links followed at most in a chain of merges (merges of merges are rare; a cycle cannot loop)
MAX_DEPTH = 32


def same_customer_sql(param: str) -> str:
    """SQL (a sub-select) of every ref that means the same customer as the ref in ``param``
    (e.g. ``"$1"``): its surviving ref at the end of the chain of merges (A→B, B→C: C) and every ref
    merged into that one, at any depth. Bounded at :data:`MAX_DEPTH` links (a cycle, which the
    vault's rules exclude, cannot loop)."""
    return f"""(WITH RECURSIVE up(ref, depth) AS (
        SELECT {param}::text, 0
        UNION ALL
        SELECT a.survivor_ref, up.depth + 1 FROM up JOIN customer_aliases a ON a.merged_ref = up.ref
        WHERE up.depth < {MAX_DEPTH}
    ), root AS (SELECT ref FROM up ORDER BY depth DESC LIMIT 1),
    down(ref, depth) AS (
        SELECT ref, 0 FROM root
        UNION ALL
        SELECT a.merged_ref, down.depth + 1 FROM down JOIN customer_aliases a ON a.survivor_ref = down.ref
        WHERE down.depth < {MAX_DEPTH}
    ) SELECT ref FROM down)"""


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

    @classmethod
    def of(cls, event: CustomersMerged | CustomerMergeReversed) -> AliasFact:
        return cls(isinstance(event, CustomersMerged), event.merged_ref, event.survivor_ref, event.at)


# ------------------------------------------------------------------------------ pure: the rule


def _history_order(fact: AliasFact) -> tuple[datetime, int, str]:
    # the vault's time; at a tie the merge before its reversal (a reversal wins), then by survivor
    return (fact.at, 0 if fact.merged else 1, fact.survivor_ref)


def latest_aliases(facts: Iterable[AliasFact]) -> dict[str, tuple[str, datetime]]:
    """``merged_ref → (survivor_ref, since)`` after every fact, folded in the vault's time order:
    a merge points the ref at its survivor, a reversal of that very merge clears it. The answer is a
    function of the *set* of facts: any arrival order, a redelivery (a fact twice) or a rebuild give
    the same aliases (``tests/unit/test_customer_aliases.py`` checks it over permutations)."""
    out: dict[str, tuple[str, datetime]] = {}
    for fact in sorted(set(facts), key=_history_order):
        if fact.merged:
            out[fact.merged_ref] = (fact.survivor_ref, fact.at)
        elif fact.merged_ref in out and out[fact.merged_ref][0] == fact.survivor_ref:
            del out[fact.merged_ref]
    return out


def root_of(aliases: Mapping[str, str], ref: str) -> str:
    """The ref at the end of ``ref``'s chain of merges (A→B, B→C: C); itself when unmerged."""
    seen = {ref}
    while ref in aliases and aliases[ref] not in seen and len(seen) <= MAX_DEPTH:
        ref = aliases[ref]
        seen.add(ref)
    return ref


def same_customer(aliases: Mapping[str, str], a: str, b: str) -> bool:
    return root_of(aliases, a) == root_of(aliases, b)


# ------------------------------------------------------------------------- the tables (SQL)

_FACTS_SQL = """
INSERT INTO customer_alias_facts (merged_ref, survivor_ref, at, merged)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[]) ON CONFLICT DO NOTHING
"""


async def record_alias_facts(conn: asyncpg.Connection, facts: Sequence[AliasFact]) -> None:
    """Keep these merges / reversals in ``customer_alias_facts`` and set the aliases of the refs
    they name from all their facts by :func:`latest_aliases`: the result does not depend on the
    order facts arrive in (see the module doc). Idempotent."""
    if not facts:
        return
    await conn.execute(
        _FACTS_SQL,
        [f.merged_ref for f in facts],
        [f.survivor_ref for f in facts],
        [f.at for f in facts],
        [f.merged for f in facts],
    )
    refs = sorted({f.merged_ref for f in facts})
    rows = await conn.fetch(
        """SELECT merged, merged_ref, survivor_ref, at FROM customer_alias_facts
           WHERE merged_ref = ANY($1::text[])""",
        refs,
    )
    aliases = latest_aliases(
        AliasFact(r["merged"], r["merged_ref"], r["survivor_ref"], r["at"]) for r in rows
    )
    await conn.execute("DELETE FROM customer_aliases WHERE merged_ref = ANY($1::text[])", refs)
    await conn.executemany(
        "INSERT INTO customer_aliases (merged_ref, survivor_ref, since) VALUES ($1, $2, $3)",
        [(ref, survivor, since) for ref, (survivor, since) in sorted(aliases.items())],
    )


async def record_event(conn: asyncpg.Connection, event: CustomersMerged | CustomerMergeReversed) -> None:
    """A reception ``CustomersMerged`` / ``CustomerMergeReversed`` into this schema's alias tables:
    what every Kafka-fed consumer and every rebuild calls."""
    await record_alias_facts(conn, [AliasFact.of(event)])


#: the tables a read model's alias handling writes (its migration creates both)
TABLES = ("customer_aliases", "customer_alias_facts")


async def _on_merge_fact(conn: asyncpg.Connection, env: Envelope, data: object) -> None:
    assert isinstance(data, CustomersMerged | CustomerMergeReversed)
    await record_event(conn, data)


def follow_merges(handlers: EventHandlers) -> EventHandlers:
    """Keep this schema's alias tables from reception's merges on a projection that reads
    ``reception.events.v1`` (its read models' queries then join refs through them)."""
    handlers.on(CustomersMerged)(_on_merge_fact)
    handlers.on(CustomerMergeReversed)(_on_merge_fact)
    return handlers
