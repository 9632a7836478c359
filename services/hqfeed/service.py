"""The HQ feed service, assembled: one projection (the aggregator) and its outbox relay.

It has no HTTP API of its own beyond what every service serves (``/health``, ``/ready``,
``/metrics``, ``/asyncapi.json``): it exists so that headquarters reads one small contract.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import lru_cache
from pathlib import Path

from services.hqfeed.config import FeedConfig
from services.hqfeed.consumer import FeedConsumer
from services.hqfeed.projection import HqFeed
from shared.runner import Service, ServiceContext
from shared.sla.policy import PolicyBook


async def _consume(ctx: ServiceContext) -> None:
    book = PolicyBook.load()

    @lru_cache(maxsize=100_000)
    def tz_of(branch_id: str) -> tzinfo:
        return book.calendar(branch_id).tz

    feed = HqFeed(store=ctx.store, tz_of=tz_of, clock=ctx.clock)
    ctx.extras["hqfeed"] = feed
    await FeedConsumer(ctx, feed, FeedConfig()).run()


SERVICE = Service(
    name="hqfeed",
    background=[_consume],
    migrations=Path(__file__).parent / "migrations",
    publishes=True,
    description="Branch side: folds the domain topics into headquarters' PII-free contract.",
)
