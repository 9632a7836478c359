"""The follow-up service's parts, built once at start-up (``Service.components``) and injected:
routes take :data:`Parts`, projections and background tasks call :func:`components`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.followup.app import SERVICE, FollowUpApp
from services.followup.config import FollowupSettings
from services.followup.decider.rules import TaskRules
from shared.runner import ComponentsFactory, ServiceContext, components_of, injected
from shared.sla.deadlines import Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler
from shared.texts import texts_for


@dataclass(frozen=True)
class Components:
    app: FollowUpApp
    rules: TaskRules
    scheduler: DeadlineScheduler


def factory(settings: FollowupSettings | None, book: PolicyBook | None) -> ComponentsFactory:
    """Build the parts from ``settings`` (None: the environment, read at start-up)."""

    async def build(ctx: ServiceContext) -> Components:
        policies = book or PolicyBook.load()
        chosen = settings or FollowupSettings()
        rules = TaskRules(policies, chosen.rules())
        deadlines = Deadlines(SERVICE, ctx.clock, policies)
        app = FollowUpApp(
            ctx.store, ctx.clock, deadlines, texts_for(ctx), rules, stream_cache_size=chosen.stream_cache_size
        )
        return Components(app, rules, DeadlineScheduler(deadlines, ctx.pool, app.on_fire))

    return build


def components(ctx: ServiceContext) -> Components:
    """The running service's parts."""
    return components_of(ctx, Components)


#: a route's parameter: the running service's parts
Parts = Annotated[Components, Depends(injected(Components))]
