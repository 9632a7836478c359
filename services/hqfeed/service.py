"""The HQ feed service, assembled: one projection (the aggregator) and its outbox relay.

It has no HTTP API of its own beyond what every service serves (``/health``, ``/ready``,
``/metrics``, ``/asyncapi.json``): it exists so that headquarters reads one small contract.
"""

from __future__ import annotations

from pathlib import Path

from services.hqfeed.components import components, factory
from services.hqfeed.config import FeedConfig
from shared.runner import Service, ServiceContext


async def _consume(ctx: ServiceContext) -> None:
    if ctx.relay is not None:
        # the aggregator appends once per consumer batch (one transaction each): its relay has
        # nothing to gather behind a commit, so it publishes each at once instead of pacing rounds
        ctx.relay.round_seconds = 0.0
    await components(ctx).consumer.run()


def build_service(settings: FeedConfig | None = None) -> Service:
    """The service from its settings (None: the environment, read when it starts)."""
    return Service(
        name="hqfeed",
        components=factory(settings),
        background=[_consume],
        migrations=Path(__file__).parent / "migrations",
        publishes=True,
        description="Branch side: folds the domain topics into headquarters' PII-free contract.",
    )


SERVICE = build_service()
