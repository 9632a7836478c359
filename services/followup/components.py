"""The follow-up service's parts, built once per running service from its context (bootstrap).

The runner asks for projections before start-up hooks run, so every entry point (projections,
routes, background tasks) goes through :func:`components`, which builds the parts on first use.
``build_service(book=..., config=...)`` (service.py) injects a policy book or rule durations.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.followup.app import SERVICE, FollowUpApp
from services.followup.config import FollowupSettings
from services.followup.rules import RuleConfig, TaskRules
from shared.runner import ServiceContext
from shared.sla.deadlines import Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler
from shared.texts import texts_for

_KEY = "followup"


@dataclass(frozen=True)
class Components:
    app: FollowUpApp
    rules: TaskRules
    scheduler: DeadlineScheduler


def rule_config_from_env() -> RuleConfig:
    """``FOLLOWUP_RECOVERY_WITHIN``, ``FOLLOWUP_INFORM_WITHIN``, ``FOLLOWUP_REMEDIATION_WITHIN``
    (durations like ``24h``, ``30d``); unset ones keep the defaults."""
    return FollowupSettings().rules()


def components(
    ctx: ServiceContext, *, book: PolicyBook | None = None, config: RuleConfig | None = None
) -> Components:
    parts: Components | None = ctx.extras.get(_KEY)
    if parts is None:
        book = book or PolicyBook.load()
        config = config or rule_config_from_env()
        deadlines = Deadlines(SERVICE, ctx.clock, book)
        app = FollowUpApp(ctx.store, ctx.clock, deadlines, texts_for(ctx))
        scheduler = DeadlineScheduler(deadlines, ctx.pool, app.on_fire)
        parts = ctx.extras[_KEY] = Components(app, TaskRules(book, config), scheduler)
    return parts
