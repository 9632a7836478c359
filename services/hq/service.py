"""The HQ service, assembled: the read model's consumer and the region gauges run as background
tasks; HQ publishes its alerts (CrisisSuspected, RepeatComplainantDetected) through its outbox."""

from __future__ import annotations

from pathlib import Path

from services.hq import gauges
from services.hq.api import router
from services.hq.components import components, factory
from services.hq.config import HqConfig
from shared.contracts import hq as _hq_events  # noqa: F401  (registers HQ's own events)
from shared.runner import Service, ServiceContext


async def _consume(ctx: ServiceContext) -> None:
    await components(ctx).consumer.run()


async def _gauges(ctx: ServiceContext) -> None:
    await gauges.run(components(ctx))


def build_service(settings: HqConfig | None = None) -> Service:
    """The service from its settings (None: the environment, read and checked when it starts)."""
    return Service(
        name="hq",
        routers=[router],
        components=factory(settings),
        migrations=Path(__file__).parent / "migrations",
        publishes=True,
        background=[_consume, _gauges],
        description="Headquarters: every branch's KPIs, reports and cross-branch patterns.",
    )


SERVICE = build_service()
