"""The HQ feed's parts, built once at start-up (``Service.components``): the aggregator and the
consumer that feeds it time windows of the domain topics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache

from services.hqfeed.config import FeedConfig
from services.hqfeed.consumer import FeedConsumer
from services.hqfeed.projection import HqFeed
from shared.runner import ComponentsFactory, ServiceContext, components_of
from shared.sla.policy import PolicyBook


@dataclass(frozen=True)
class Components:
    feed: HqFeed
    consumer: FeedConsumer


def factory(settings: FeedConfig | None) -> ComponentsFactory:
    """Build the parts from ``settings`` (None: the environment, read at start-up)."""

    async def build(ctx: ServiceContext) -> Components:
        book = PolicyBook.load()

        @lru_cache(maxsize=100_000)
        def tz_of(branch_id: str) -> tzinfo:
            return book.calendar(branch_id).tz

        feed = HqFeed(store=ctx.store, tz_of=tz_of, clock=ctx.clock)
        return Components(feed, FeedConsumer(ctx, feed, settings or FeedConfig()))

    return build


def components(ctx: ServiceContext) -> Components:
    """The running service's parts."""
    return components_of(ctx, Components)
