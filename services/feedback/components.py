"""The feedback service's parts, built once per running service from its context (bootstrap).

The runner asks for projections before start-up hooks run, so every entry point goes through
:func:`components`, which builds the parts on first use. ``build_service`` (service.py) injects a
policy book, a configuration or another :class:`SmsSender` (a real gateway adapter, or a test's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.feedback.app import SERVICE, FeedbackApp
from services.feedback.config import FeedbackConfig
from services.feedback.dispatch import SurveyDispatcher
from services.feedback.sender import LocalOutboxSender, SmsSender
from shared.runner import ServiceContext
from shared.sla.deadlines import Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler

_KEY = "feedback"

SenderFactory = Callable[[ServiceContext], SmsSender]


@dataclass(frozen=True)
class Components:
    app: FeedbackApp
    scheduler: DeadlineScheduler
    dispatcher: SurveyDispatcher


def components(
    ctx: ServiceContext,
    *,
    book: PolicyBook | None = None,
    config: FeedbackConfig | None = None,
    sender: SenderFactory | None = None,
) -> Components:
    parts: Components | None = ctx.extras.get(_KEY)
    if parts is None:
        deadlines = Deadlines(SERVICE, ctx.clock, book or PolicyBook.load())
        app = FeedbackApp(ctx.store, ctx.clock, deadlines, config or FeedbackConfig.from_env())
        chosen = sender(ctx) if sender is not None else LocalOutboxSender(ctx.pool)
        parts = ctx.extras[_KEY] = Components(
            app,
            DeadlineScheduler(deadlines, ctx.pool, app.on_fire),
            SurveyDispatcher(app, ctx.pool, chosen),
        )
    return parts
