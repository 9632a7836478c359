"""The feedback service, assembled: routes, survey rules, dispatcher, window clock, gauges."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from services.feedback import metrics
from services.feedback.api import router
from services.feedback.components import ContactsFactory, SenderFactory, components, factory
from services.feedback.config import FeedbackConfig, FeedbackSettings
from services.feedback.satisfaction import service_satisfaction
from services.feedback.subscribers import survey_rules
from shared.runner import Service, ServiceContext, periodic
from shared.sla.policy import PolicyBook
from shared.texts import check_text_keys, texts_router

log = logging.getLogger(__name__)

GAUGE_PERIOD_SECONDS = 15.0


async def refresh_gauges(ctx: ServiceContext) -> None:
    """Satisfaction and CSAT over the gauge window, all branches together, per service type."""
    window = timedelta(days=components(ctx).app.config.gauge_window_days)
    async with ctx.pool.acquire() as conn:
        figures = await service_satisfaction(conn, ctx.clock.now() - window)
    for service_type, f in figures.items():
        if f.satisfaction_rate is not None:
            metrics.SATISFACTION.labels(service_type).set(f.satisfaction_rate)
        if f.csat is not None:
            metrics.CSAT.labels(service_type).set(f.csat)


async def _precreate_metrics(ctx: ServiceContext) -> None:
    metrics.precreate()


async def _scheduler(ctx: ServiceContext) -> None:
    await components(ctx).scheduler.run()


async def _dispatcher(ctx: ServiceContext) -> None:
    await components(ctx).dispatcher.run()


_GAUGES = periodic(
    GAUGE_PERIOD_SECONDS, refresh_gauges, name="feedback: refreshing the satisfaction gauges", logger=log
)


def build_service(
    settings: FeedbackSettings | None = None,
    *,
    book: PolicyBook | None = None,
    config: FeedbackConfig | None = None,
    sender: SenderFactory | None = None,
    contacts: ContactsFactory | None = None,
) -> Service:
    """The service from its settings (None: the environment, read when it starts). ``contacts``:
    how the dispatcher resolves a customer's number (default: the reception vault when
    ``RECEPTION_URL`` is set, else none — see ``components.contacts_from_env``)."""
    return Service(
        name="feedback",
        routers=[router, texts_router()],
        components=factory(settings, book=book, config=config, sender=sender, contacts=contacts),
        projections=lambda ctx: [survey_rules(components(ctx).app)],
        migrations=Path(__file__).parent / "migrations",
        background=[
            _scheduler,
            _dispatcher,
            _GAUGES,
        ],
        on_startup=[_precreate_metrics],
        description="Satisfaction surveys after every visit and closed complaint (客户反馈).",
        checks=[check_text_keys],
    )


SERVICE = build_service()
