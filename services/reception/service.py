"""The reception service, assembled.

Background: the SLA scheduler (``RECEPTION_SCHEDULER_PERIOD_SECONDS``, default 1 s) and the gauge
refresher (``RECEPTION_GAUGE_PERIOD_SECONDS``, default 5 s). Tests set long periods and tick by hand.
"""

from __future__ import annotations

from pathlib import Path

from services.reception.api import router
from services.reception.components import components, factory
from services.reception.config import ReceptionSettings
from services.reception.vault_api import check_vault_keys, start_vault
from services.reception.vault_erasures import start_erasure_log
from shared.runner import Service, ServiceContext
from shared.texts import check_text_keys


async def _scheduler(ctx: ServiceContext) -> None:
    parts = components(ctx)
    await parts.app.run_scheduler(parts.settings.scheduler_period_seconds)


async def _gauges(ctx: ServiceContext) -> None:
    parts = components(ctx)
    await parts.app.run_gauges(parts.settings.gauge_period_seconds)


def build_service(settings: ReceptionSettings | None = None) -> Service:
    """The service from its settings (None: the environment, read when it starts)."""
    return Service(
        name="reception",
        routers=[router],
        components=factory(settings),
        migrations=Path(__file__).parent / "migrations",
        checks=[check_vault_keys, check_text_keys],  # no master or PII key: the service does not start
        on_startup=[start_vault, start_erasure_log],  # the log is re-applied before serving
        background=[_scheduler, _gauges],
        description=(
            "Visits, queue tickets, counters and phone calls, with the lobby wait SLA and a live board."
        ),
    )


SERVICE = build_service()
