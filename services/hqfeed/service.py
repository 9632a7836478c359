"""The HQ feed service, assembled: one projection (the aggregator) and its outbox relay.

It has no HTTP API of its own beyond what every service serves (``/health``, ``/ready``,
``/metrics``, ``/asyncapi.json``): it exists so that headquarters reads one small contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from functools import lru_cache
from pathlib import Path

from services.hqfeed.projection import HqFeed
from shared.projection import Projection
from shared.runner import Service, ServiceContext
from shared.sla.policy import PolicyBook


def _projections(ctx: ServiceContext) -> Sequence[Projection]:
    book = PolicyBook.load()

    @lru_cache(maxsize=100_000)
    def tz_of(branch_id: str) -> tzinfo:
        return book.calendar(branch_id).tz

    feed = HqFeed(store=ctx.store, tz_of=tz_of, clock=ctx.clock)
    ctx.extras["hqfeed"] = feed
    return [feed]


SERVICE = Service(
    name="hqfeed",
    projections=_projections,
    migrations=Path(__file__).parent / "migrations",
    publishes=True,
    description="Branch side: folds the domain topics into headquarters' PII-free contract.",
)
