"""The complaint service, assembled."""

from __future__ import annotations

from pathlib import Path

from services.complaint.api import router
from services.complaint.app import ComplaintApp, app_for, run_maintenance, run_scheduler
from services.complaint.config import ComplaintSettings
from services.complaint.subscribers import reactions
from shared.runner import ComponentsFactory, Service, ServiceContext
from shared.texts import check_text_keys
from shared.texts_route import texts_router


def _factory(settings: ComplaintSettings | None) -> ComponentsFactory:
    async def build(ctx: ServiceContext) -> ComplaintApp:
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
