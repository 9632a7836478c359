"""The complaint service, assembled."""

from __future__ import annotations

import gc
from pathlib import Path

from services.complaint.api import router
from services.complaint.app import ComplaintApp, app_for, run_maintenance, run_scheduler
from services.complaint.config import ComplaintSettings
from services.complaint.subscribers import reactions
from shared.runner import ComponentsFactory, Service, ServiceContext
from shared.texts import check_text_keys
from shared.texts_route import texts_router

#: container objects allocated (net) before a young garbage collection; CPython's default is 700
YOUNG_COLLECTION_THRESHOLD = 10_000


def _fewer_young_collections() -> None:
    """A young collection every 10,000 net allocations instead of every 700 (issue 19).

    A command allocates a few thousand container objects (envelopes, models, the view, asyncpg
    records) and most are freed by reference counting on return; a young collection only
    traverses what is alive at that moment — the requests in flight, which it then promotes, so
    the older generations grow and collect more often too. At 700 a command saw about one young
    collection in ten and 6-7 % of the service's CPU went to the collector (py-spy, acknowledge
    under load); fifteen times fewer collections traverse the in-flight requests fifteen times
    less often. What is kept between them is bounded: at most 10,000 objects of cyclic garbage,
    a few MB. The older generations keep their thresholds (and ``shared.heap.settle_heap`` keeps
    start-up's heap out of full collections)."""
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def _factory(settings: ComplaintSettings | None) -> ComponentsFactory:
    async def build(ctx: ServiceContext) -> ComplaintApp:
        _fewer_young_collections()
        return ComplaintApp(ctx, settings)  # None: the environment, read now (at start-up)

    return build


def build_service(settings: ComplaintSettings | None = None) -> Service:
    """The service from its settings (None: the environment, read when it starts)."""
    return Service(
        name="complaint",
        routers=[router, texts_router()],
        components=_factory(settings),
        projections=lambda ctx: reactions(app_for(ctx)),
        migrations=Path(__file__).parent / "migrations",
        background=[run_scheduler, run_maintenance],
        description="Complaint cases from receipt to close, with deadlines and escalation.",
        checks=[check_text_keys],  # no master key for the private texts: the service does not start
    )


SERVICE = build_service()
