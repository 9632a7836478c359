"""HQ's customer aliases: the vault's duplicate merges as the contract tells them.

``CustomerRefsMerged`` / ``CustomerRefsMergeReversed`` (``hqfeed.events.v1``) add and drop rows of
``customer_aliases`` through the shared helpers (:mod:`shared.customer_aliases`), in the order they
were recorded. Complaint rows keep the ref their events named; repeat-complainant detection
resolves refs when it looks (:meth:`services.hq.projections.alerts.Alerts.repeats`), so a reversal
or a rebuild rewrites no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.customer_aliases import add_alias, customer_groups, drop_alias


@dataclass(frozen=True)
class AliasChange:
    """One merge (``merged=True``) or reversal of the batch, in order."""

    merged: bool
    merged_ref: str
    survivor_ref: str
    at: datetime


async def apply_aliases(conn: asyncpg.Connection, changes: Sequence[AliasChange]) -> set[str]:
    """Apply the batch's merges and reversals; returns every ref whose customer they may change
    (the two refs and every ref that meant the same customer before), for the repeat check."""
    touched = {r for c in changes for r in (c.merged_ref, c.survivor_ref)}
    before = await customer_groups(conn, touched)
    for c in changes:
        if c.merged:
            await add_alias(conn, c.merged_ref, c.survivor_ref, c.at)
        else:
            await drop_alias(conn, c.merged_ref, c.survivor_ref)
    return touched | set(before)
