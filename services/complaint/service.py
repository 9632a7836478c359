"""The complaint service, assembled."""

from __future__ import annotations

from pathlib import Path

from services.complaint.api import router
from shared.runner import Service

SERVICE = Service(
    name="complaint",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    description="Complaint cases from receipt to close, with deadlines and escalation.",
)
