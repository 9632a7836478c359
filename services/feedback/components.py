"""The feedback service's parts, built once per running service from its context (bootstrap).

The runner asks for projections before start-up hooks run, so every entry point goes through
:func:`components`, which builds the parts on first use. ``build_service`` (service.py) injects a
policy book, a configuration, another :class:`SmsSender` (a real gateway adapter, or a test's) or
another :class:`ContactResolver`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services.feedback.app import SERVICE, FeedbackApp
from services.feedback.config import FeedbackConfig, FeedbackSettings
from services.feedback.dispatch import SurveyDispatcher
from services.feedback.sender import ContactResolver, LocalOutboxSender, SmsSender
from shared.contacts import RECEPTION_URL_ENV, VaultContacts
from shared.runner import ServiceContext
from shared.sla.deadlines import Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler
from shared.texts import texts_for

log = logging.getLogger(__name__)

_KEY = "feedback"

SenderFactory = Callable[[ServiceContext], SmsSender]
ContactsFactory = Callable[[ServiceContext], ContactResolver | None]


def contacts_from_env(ctx: ServiceContext) -> ContactResolver | None:
    """The reception vault's contact resolution when ``RECEPTION_URL`` is set (with the service
    token secret: ``BRANCHCARE_SERVICE_JWT_SECRET``, else ``BRANCHCARE_JWT_SECRET``; a missing
    secret stops the service). Unset: None — surveys go to the sender without a number (the
    local outbox needs none; feedback running alone, e.g. its own tests)."""
    if not FeedbackSettings().reception_url.strip():
        log.warning("feedback: %s is not set: surveys are sent without resolving a number", RECEPTION_URL_ENV)
        return None
    return VaultContacts.from_env(service=SERVICE)


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
    contacts: ContactsFactory | None = None,
) -> Components:
    parts: Components | None = ctx.extras.get(_KEY)
    if parts is None:
        deadlines = Deadlines(SERVICE, ctx.clock, book or PolicyBook.load())
        app = FeedbackApp(
            ctx.store, ctx.clock, deadlines, config or FeedbackConfig.from_env(), texts_for(ctx)
        )
        chosen = sender(ctx) if sender is not None else LocalOutboxSender(ctx.pool)
        resolver = (contacts or contacts_from_env)(ctx)
        parts = ctx.extras[_KEY] = Components(
            app,
            DeadlineScheduler(deadlines, ctx.pool, app.on_fire),
            SurveyDispatcher(app, ctx.pool, chosen, contacts=resolver),
        )
    return parts
