"""The complaint service, assembled."""

from __future__ import annotations

from pathlib import Path

from services.complaint.api import router
from services.complaint.app import app_for, run_maintenance, run_scheduler
from services.complaint.subscribers import reactions
from shared.runner import Service
from shared.texts import check_text_keys, texts_router

SERVICE = Service(
    name="complaint",
    routers=[router, texts_router()],
    projections=lambda ctx: reactions(app_for(ctx)),
    migrations=Path(__file__).parent / "migrations",
    background=[run_scheduler, run_maintenance],
    description="Complaint cases from receipt to close, with deadlines and escalation.",
    checks=[check_text_keys],  # no master key for the private texts: the service does not start
)
