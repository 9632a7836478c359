"""The HQ service, assembled. It publishes nothing yet, so it runs no relay."""

from __future__ import annotations

from pathlib import Path

from services.hq.api import router
from services.hq.projections import BranchComplaintCounts
from shared.runner import Service

SERVICE = Service(
    name="hq",
    routers=[router],
    projections=lambda ctx: [BranchComplaintCounts()],
    migrations=Path(__file__).parent / "migrations",
    publishes=False,
    description="Headquarters: every branch's KPIs, reports and cross-branch patterns.",
)
