"""The feedback service's parts, built once at start-up (``Service.components``) and injected:
routes take :data:`Parts`, projections and background tasks call :func:`components`.
``build_service`` (service.py) may pass a policy book, a configuration, another
:class:`SmsSender` (a real gateway adapter, or a test's) or another :class:`ContactResolver`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.feedback.app import SERVICE, FeedbackApp
from services.feedback.config import FeedbackConfig, FeedbackSettings
from services.feedback.dispatch import SurveyDispatcher
from services.feedback.sender import ContactResolver, LocalOutboxSender, SmsSender
from shared.contacts import RECEPTION_URL_ENV, VaultContacts
from shared.runner import ComponentsFactory, ServiceContext, components_of, injected
from shared.sla.deadlines import Deadlines
from shared.sla.policy import PolicyBook
from shared.sla.scheduler import DeadlineScheduler
from shared.texts import texts_for

log = logging.getLogger(__name__)

SenderFactory = Callable[[ServiceContext], SmsSender]
ContactsFactory = Callable[[ServiceContext], ContactResolver | None]


def contacts_from_env(ctx: ServiceContext, settings: FeedbackSettings) -> ContactResolver | None:
    """The reception vault's contact resolution when ``RECEPTION_URL`` is set (with the service
    token secret: ``BRANCHCARE_SERVICE_JWT_SECRET``, else ``BRANCHCARE_JWT_SECRET``; a missing
    secret stops the service). Unset: None — surveys go to the sender without a number (the
    local outbox needs none; feedback running alone, e.g. its own tests)."""
    if not settings.reception_url.strip():
        log.warning("feedback: %s is not set: surveys are sent without resolving a number", RECEPTION_URL_ENV)
        return None
    return VaultContacts.from_env(service=SERVICE)


@dataclass(frozen=True)
class Components:
    app: FeedbackApp
    scheduler: DeadlineScheduler
    dispatcher: SurveyDispatcher


def factory(
    settings: FeedbackSettings | None,
    *,
    book: PolicyBook | None = None,
    config: FeedbackConfig | None = None,
    sender: SenderFactory | None = None,
    contacts: ContactsFactory | None = None,
) -> ComponentsFactory:
    """Build the parts from ``settings`` (None: the environment, read at start-up); ``config``,
    ``sender`` and ``contacts`` replace what the settings would give (tests, a real gateway)."""

    async def build(ctx: ServiceContext) -> Components:
        chosen = settings or FeedbackSettings()
        deadlines = Deadlines(SERVICE, ctx.clock, book or PolicyBook.load())
        app = FeedbackApp(ctx.store, ctx.clock, deadlines, config or chosen.config(), texts_for(ctx))
        resolver = contacts(ctx) if contacts is not None else contacts_from_env(ctx, chosen)
        return Components(
            app,
            DeadlineScheduler(deadlines, ctx.pool, app.on_fire),
            SurveyDispatcher(
                app,
                ctx.pool,
                sender(ctx) if sender is not None else LocalOutboxSender(ctx.pool),
                contacts=resolver,
            ),
        )

    return build


def components(ctx: ServiceContext) -> Components:
    """The running service's parts."""
    return components_of(ctx, Components)


#: a route's parameter: the running service's parts
Parts = Annotated[Components, Depends(injected(Components))]
