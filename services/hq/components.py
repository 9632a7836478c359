"""HQ's parts, built once at start-up (``Service.components``) and injected: routes take
:data:`Parts`, background tasks call :func:`components`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Annotated

import asyncpg
from fastapi import Depends

from services.hq.config import HqConfig, load_config
from services.hq.consumer import HqConsumer
from services.hq.projections import BranchKpis
from services.hq.queries import BranchDirectory
from services.hq.regions import Regions
from shared.clock import Clock
from shared.runner import ComponentsFactory, ServiceContext, components_of, injected
from shared.sla.policy import PolicyBook


@dataclass
class HqComponents:
    pool: asyncpg.Pool
    clock: Clock
    config: HqConfig
    regions: Regions
    book: PolicyBook
    directory: BranchDirectory
    projection: BranchKpis
    #: the read model's generation-switching consumer (a background task runs it)
    consumer: HqConsumer

    def tz_of(self, branch_id: str) -> tzinfo:
        return self.book.calendar(branch_id).tz

    def today(self) -> date:
        """Today in HQ's time zone (the default calendar's)."""
        return self.clock.now().astimezone(self.book.calendar(None).tz).date()


def factory(settings: HqConfig | None) -> ComponentsFactory:
    """Build the parts from ``settings`` (None: the environment, read and checked at start-up)."""

    async def build(ctx: ServiceContext) -> HqComponents:
        config = settings or load_config()
        regions = Regions.load(config.regions_file)
        projection = BranchKpis(config=config, regions=regions, store=ctx.store, clock=ctx.clock)
        return HqComponents(
            ctx.pool,
            ctx.clock,
            config,
            regions,
            PolicyBook.load(),
            BranchDirectory(regions),
            projection,
            HqConsumer(ctx, projection, config),
        )

    return build


def components(ctx: ServiceContext) -> HqComponents:
    """The running service's parts."""
    return components_of(ctx, HqComponents)


#: a route's parameter: the running service's parts
Parts = Annotated[HqComponents, Depends(injected(HqComponents))]
