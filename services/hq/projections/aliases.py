"""HQ's customer aliases: the vault's duplicate merges as the contract tells them.

``CustomerRefsMerged`` / ``CustomerRefsMergeReversed`` (``hqfeed.events.v1``) are kept as facts and
set ``customer_aliases`` through :func:`shared.customer_aliases.record_alias_facts`, which does not
depend on their order: a merge and its reversal recorded at two branches travel on two branches'
streams (two partitions, or one aggregator batch in branch order). Complaint rows keep the ref
their events named; repeat-complainant detection resolves refs when it looks
(:meth:`services.hq.projections.alerts.Alerts.repeats`), so a reversal or a rebuild rewrites no row.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.customer_aliases import AliasFact, customer_groups, record_alias_facts


async def apply_aliases(conn: asyncpg.Connection, facts: Sequence[AliasFact]) -> set[str]:
    """Record the batch's merges and reversals; returns every ref whose customer they may change
    (the refs they name and every ref that meant the same customer before), for the repeat check."""
    touched = {r for f in facts for r in (f.merged_ref, f.survivor_ref)}
    before = await customer_groups(conn, touched)
    await record_alias_facts(conn, facts)
    return touched | set(before)
