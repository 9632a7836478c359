"""The complaint service's HTTP layer, assembled: queries and receipt (:mod:`routes`), the
lifecycle commands declared on the same router (:mod:`command_routes`), bodies (:mod:`bodies`)
and views (:mod:`views`)."""

from __future__ import annotations

from services.complaint import command_routes  # noqa: F401  (declares the command routes)
from services.complaint.routes import router
from services.complaint.views import view

__all__ = ["router", "view"]
