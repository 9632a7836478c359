"""HQ's read model, fed ONLY by the branch side's contract (``hqfeed.events.v1``).

One projection (``branch_kpis``, one consumer group) writes every HQ table; its parts, one module
each: :mod:`.changes` (the contract batch as changes, pure), :mod:`.tables` (one statement per
table: KPIs by branch × day, SLA outcomes, categories, complaint facts, remediation actions, open
breaches), :mod:`.aliases` (the vault's duplicate merges) and :mod:`.alerts` (cross-branch
patterns, published on ``hq.events.v1``). The queries over these tables are
:mod:`services.hq.queries` (KPIs, regions, alerts) and :mod:`services.hq.report` (the regulatory
complaint report).

No module of ``services/hq`` names a branch domain topic: HQ does not depend on any branch
service's internal events, and no staff text can reach it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.hq import metrics
from services.hq.config import HqConfig
from services.hq.projections.alerts import Alerts
from services.hq.projections.aliases import apply_aliases
from services.hq.projections.changes import fold_contract
from services.hq.projections.tables import write_changes
from services.hq.regions import Regions
from shared.clock import Clock
from shared.contracts import hqfeed as _hqfeed  # noqa: F401  (registers the contract's events)
from shared.envelope import Envelope
from shared.eventstore import EventStore
from shared.topology import events_topic

PROJECTION = "branch_kpis"
#: the only topic HQ reads: the branch side's contract for headquarters
TOPICS: tuple[str, ...] = (events_topic("hqfeed"),)

__all__ = ["PROJECTION", "TOPICS", "BranchKpis"]


class BranchKpis:
    """The read model behind every HQ endpoint (one projection, one consumer group)."""

    name = PROJECTION
    topics: Sequence[str] = TOPICS

    def __init__(self, *, config: HqConfig, regions: Regions, store: EventStore | None, clock: Clock) -> None:
        self.config = config
        self.regions = regions
        self.alerts = Alerts(config=config, store=store, clock=clock)
        self.crisis_categories = frozenset(config.crisis_categories)
        #: recorded_at of the branch events behind the deltas applied since the consumer last looked
        self.applied_recorded_at: list[datetime] = []

    @property
    def published(self) -> int:
        return self.alerts.published

    @published.setter
    def published(self, value: int) -> None:
        self.alerts.published = value

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        changes = fold_contract(events, slot=self.alerts.slot, crisis_categories=self.crisis_categories)
        await write_changes(conn, changes)
        if changes.aliases:
            changes.customer_refs |= await apply_aliases(conn, changes.aliases)
        if changes.slots:
            await self.alerts.spikes(conn, {(cat, slot) for cat, slot, _ in changes.slots})
        if changes.customer_refs:
            await self.alerts.repeats(conn, changes.customer_refs)
        self.applied_recorded_at.extend(changes.source_recorded_at)
        by_region: Counter[str] = Counter()
        for (branch, _day), counters in changes.day.items():
            by_region[self.regions.region_of(branch)] += int(counters.get("events", 0))
        for region, n in by_region.items():
            if n:
                metrics.REGION_EVENTS.labels(region).inc(n)
