"""The HQ service, assembled: the read model's consumer and the region gauges run as background
tasks; HQ publishes its alerts (CrisisSuspected, RepeatComplainantDetected) through its outbox."""

from __future__ import annotations

from pathlib import Path

from services.hq import gauges
from services.hq.api import router
from services.hq.components import KEY, HqComponents, build
from services.hq.consumer import HqConsumer
from shared.contracts import hq as _hq_events  # noqa: F401  (registers HQ's own events)
from shared.runner import Service, ServiceContext


async def _start(ctx: ServiceContext) -> None:
    ctx.extras[KEY] = build(ctx)


async def _consume(ctx: ServiceContext) -> None:
    parts: HqComponents = ctx.extras[KEY]
    consumer = HqConsumer(ctx, parts.projection, parts.config)
    ctx.extras["hq_consumer"] = consumer
    await consumer.run()


async def _gauges(ctx: ServiceContext) -> None:
    await gauges.run(ctx.extras[KEY])


SERVICE = Service(
    name="hq",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    publishes=True,
    on_startup=[_start],
    background=[_consume, _gauges],
    description="Headquarters: every branch's KPIs, reports and cross-branch patterns.",
)
