"""HQ's parts, built once at start-up and shared by the routes and the background tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Annotated

import asyncpg
from fastapi import Depends

from services.hq.config import HqConfig, load_config
from services.hq.projections import BranchKpis
from services.hq.queries import BranchDirectory
from services.hq.regions import Regions
from shared.clock import Clock
from shared.runner import ServiceContext, context
from shared.sla.policy import PolicyBook

KEY = "hq"


@dataclass
class HqComponents:
    pool: asyncpg.Pool
    clock: Clock
    config: HqConfig
    regions: Regions
    book: PolicyBook
    directory: BranchDirectory
    projection: BranchKpis

    def tz_of(self, branch_id: str) -> tzinfo:
        return self.book.calendar(branch_id).tz

    def today(self) -> date:
        """Today in HQ's time zone (the default calendar's)."""
        return self.clock.now().astimezone(self.book.calendar(None).tz).date()


def build(ctx: ServiceContext, config: HqConfig | None = None) -> HqComponents:
    config = config or load_config()
    regions = Regions.load(config.regions_file)
    book = PolicyBook.load()

    projection = BranchKpis(config=config, regions=regions, store=ctx.store, clock=ctx.clock)
    return HqComponents(ctx.pool, ctx.clock, config, regions, book, BranchDirectory(regions), projection)


def components(ctx: Annotated[ServiceContext, Depends(context)]) -> HqComponents:
    parts: HqComponents = ctx.extras[KEY]
    return parts
