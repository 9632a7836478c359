"""The follow-up service, assembled: routes, rule projections, the SLA scheduler, gauges."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from services.followup import metrics
from services.followup.api import router
from services.followup.components import components, factory
from services.followup.config import FollowupSettings
from services.followup.customer_tasks import router as customer_router
from services.followup.subscribers import task_rules
from shared.contracts.followup import TaskKind
from shared.projection import Projection
from shared.runner import Service, ServiceContext, periodic
from shared.sla.policy import PolicyBook
from shared.texts import check_text_keys
from shared.texts_route import texts_router

log = logging.getLogger(__name__)

GAUGE_PERIOD_SECONDS = 5.0
DUE_HORIZON = timedelta(hours=24)


async def refresh_gauges(ctx: ServiceContext) -> None:
    """Set the due / overdue gauges from the tasks table (every replica reports the same)."""
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT kind, count(*) FILTER (WHERE due_at <= $1) AS overdue,
                      count(*) FILTER (WHERE due_at > $1 AND due_at <= $2) AS due
               FROM tasks WHERE status IN ('scheduled', 'contacted') AND paused_at IS NULL GROUP BY kind""",
            now,
            now + DUE_HORIZON,
        )
    counts = {r["kind"]: (r["due"], r["overdue"]) for r in rows}
    for kind in TaskKind:
        due, overdue = counts.get(kind.value, (0, 0))
        metrics.TASKS_DUE.labels(kind.value).set(due)
        metrics.TASKS_OVERDUE.labels(kind.value).set(overdue)


async def _precreate_metrics(ctx: ServiceContext) -> None:
    metrics.precreate()
    await refresh_gauges(ctx)


def _projections(ctx: ServiceContext) -> list[Projection]:
    parts = components(ctx)
    return [task_rules(parts.app, parts.rules, ctx.store, ctx.clock)]


async def _scheduler(ctx: ServiceContext) -> None:
    await components(ctx).scheduler.run()


_GAUGES = periodic(
    GAUGE_PERIOD_SECONDS, refresh_gauges, name="followup: refreshing the task gauges", logger=log
)


def build_service(settings: FollowupSettings | None = None, *, book: PolicyBook | None = None) -> Service:
    """The service from its settings (None: the environment, read when it starts) and a policy
    book (None: ``SLA_POLICIES_FILE`` or the built-in one)."""
    return Service(
        name="followup",
        routers=[router, customer_router, texts_router()],
        components=factory(settings, book),
        projections=_projections,
        migrations=Path(__file__).parent / "migrations",
        background=[
            _scheduler,
            _GAUGES,
        ],
        on_startup=[_precreate_metrics],
        description="Follow-up tasks that keep every promise to a customer (跟踪服务).",
        checks=[check_text_keys],
    )


SERVICE = build_service()
