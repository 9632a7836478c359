"""``GET /audit`` (action ``audit.read``) and :func:`install_audit`, which wires the middleware and
the route into an app."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from shared.audit.middleware import AuditMiddleware
from shared.audit.store import MAX_LIMIT, query
from shared.auth import Principal, requires

AuditReader = Annotated[Principal, Depends(requires("audit.read"))]
_FILTER_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"


def audit_router() -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/audit")
    async def read_audit(
        request: Request,
        admin: AuditReader,
        staff_id: Annotated[str | None, Query(pattern=_FILTER_ID)] = None,
        branch_id: Annotated[str | None, Query(pattern=_FILTER_ID)] = None,
        kind: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.]{0,63}$")] = None,
        correlation_id: UUID | None = None,
        start: Annotated[datetime | None, Query(alias="from", description="inclusive, ISO 8601")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="exclusive, ISO 8601")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> dict[str, Any]:
        """Commands and PII operations of this service, newest first (admin, HQ-wide token)."""
        ctx = request.app.state.ctx
        async with ctx.pool.acquire() as conn:
            entries = await query(
                conn,
                staff_id=staff_id,
                branch_id=branch_id,
                kind=kind,
                correlation_id=correlation_id,
                start=start,
                end=end,
                limit=limit,
            )
        return {"service": ctx.name, "count": len(entries), "entries": [e.to_json() for e in entries]}

    return router


def install_audit(app: FastAPI, *, service: str | None = None, routes: bool = True) -> None:
    """Record every command of ``app`` and serve ``GET /audit``. Call before the app starts and
    after ``install_auth`` (the last middleware added is the outermost)."""
    app.add_middleware(AuditMiddleware, service=service)
    if routes:
        app.include_router(audit_router())
