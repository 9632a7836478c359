"""Reception's HTTP API, assembled: the routes (:mod:`routes`), the commands declared one per
line (:mod:`command_routes`), counters, the customer PII vault and the private texts."""

from __future__ import annotations

from fastapi import APIRouter

from services.reception.command_routes import router as command_router
from services.reception.counter_api import router as counter_router
from services.reception.routes import router as routes_router
from services.reception.vault_api import internal_router as vault_internal_router
from services.reception.vault_api import router as vault_router
from services.reception.vault_maintenance_api import router as vault_maintenance_router
from shared.texts_route import texts_router

router = APIRouter(tags=["reception"])
for part in (
    command_router,
    routes_router,
    counter_router,
    vault_router,
    vault_internal_router,
    vault_maintenance_router,
    texts_router(),
):
    router.include_router(part)
