"""Reception's parts, built once at start-up (``Service.components``): the reception application
and the settings it was built from. Routes take the application through one accessor
(:func:`reception`); the vault reaches it for erasures."""

from __future__ import annotations

from dataclasses import dataclass

from services.reception.app import Reception
from services.reception.catalogue import Catalogue
from services.reception.config import ReceptionSettings
from shared.runner import ComponentsFactory, ServiceContext, components_of


@dataclass(frozen=True)
class Components:
    app: Reception
    settings: ReceptionSettings


def factory(settings: ReceptionSettings | None) -> ComponentsFactory:
    """Build the parts from ``settings`` (None: the environment, read at start-up)."""

    async def build(ctx: ServiceContext) -> Components:
        chosen = settings or ReceptionSettings()
        return Components(Reception(ctx, catalogue=Catalogue.load(chosen.catalogue_file)), chosen)

    return build


def components(ctx: ServiceContext) -> Components:
    """The running service's parts."""
    return components_of(ctx, Components)


def reception(ctx: ServiceContext) -> Reception:
    """The running service's reception application."""
    return components(ctx).app


def reception_if_running(ctx: ServiceContext) -> Reception | None:
    """The reception application, or None where a vault is served without it (tests)."""
    return ctx.components.app if isinstance(ctx.components, Components) else None
