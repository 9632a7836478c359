"""The audit trail: every command and every PII read is attributable and queryable by ``admin``.

Two writers, one append-only ``audit_log`` table per service schema (``shared/sql/0004_audit.sql``):

- :class:`AuditMiddleware` records every non-GET request (a command, whatever its outcome): who
  (the verified principal; nobody when authentication failed), when
  (the service clock), method, route *template*, resource id, branch, status and correlation id.
  It writes before the response leaves, so a client that got its answer finds the row.
- :func:`record` is called explicitly inside the transaction of a PII operation (the vault's
  reads, registrations, erasures, contact resolutions), so an unaudited read cannot happen.

Never stored: request bodies, query strings, raw paths (an unmatched path could hold anything).
Free text (a read's reason) is scrubbed of phone/ID numbers and bounded.

``install_audit(app)`` adds the middleware and ``GET /audit`` (action ``audit.read``). Call it
after ``install_auth(app)`` so the audit sees the final status (outermost middleware).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal, requires
from shared.auth.dependencies import _CHECK_KEY as BRANCH_CHECK_KEY
from shared.auth.dependencies import ACTION_ATTR
from shared.pii import scrub_text

log = logging.getLogger(__name__)

__all__ = [
    "AUDIT_WRITES",
    "AuditEntry",
    "AuditMiddleware",
    "annotate",
    "install_audit",
    "query",
    "record",
    "route_template",
]

CORRELATION_HEADER = b"x-correlation-id"
#: methods that change nothing: not recorded by the middleware (PII reads record themselves)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_REASON = 200
MAX_LIMIT = 1000
_STAFF_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_KIND = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_BRANCH_PARAM = "branch_id"
_ANNOTATION_KEY = "branchcare_audit"

AUDIT_WRITES = Counter(
    "branchcare_audit_writes_total",
    "Audit rows written by the middleware, by outcome (written, failed)",
    ["service", "outcome"],
)


@dataclass(frozen=True)
class AuditEntry:
    """One attributable act. ``kind`` is ``command`` or a PII action (``pii.read`` ...)."""

    at: datetime
    service: str
    kind: str
    staff_id: str | None
    authenticated: bool = True
    action: str | None = None
    method: str | None = None
    route: str | None = None
    resource_id: str | None = None
    branch_id: str | None = None
    status: int | None = None
    correlation_id: UUID | None = None
    reason: str | None = None
    audit_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["correlation_id"] = str(self.correlation_id) if self.correlation_id else None
        return out


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in reason).strip()
    return scrub_text(text)[:MAX_REASON] or None


def _clean_resource(value: str | None) -> str | None:
    """A resource id only if it looks like one (uuid, ref, ticket) and holds nothing that looks
    like a phone or ID number (someone typing a number where a ref belongs); idempotent."""
    if value is None or not _RESOURCE_ID.match(value):
        return None
    try:
        return str(UUID(value)) if len(value) == 36 else _unless_number(value)
    except ValueError:
        return _unless_number(value)


def _unless_number(value: str) -> str | None:
    return value if scrub_text(value) == value else None


async def record(conn: asyncpg.Connection, entry: AuditEntry) -> int:
    """Insert ``entry`` in the caller's transaction (so the audited act and its row commit
    together); returns its id."""
    if not _KIND.match(entry.kind):
        raise ValueError("audit kind must be a lower-case dotted name")
    staff_id = entry.staff_id if entry.staff_id and _STAFF_ID.match(entry.staff_id) else None
    audit_id: int = await conn.fetchval(
        """INSERT INTO audit_log (at, service, kind, staff_id, authenticated, action, method, route,
               resource_id, branch_id, status, correlation_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           RETURNING audit_id""",
        entry.at,
        entry.service,
        entry.kind,
        staff_id,
        entry.authenticated and staff_id is not None,
        entry.action,
        entry.method,
        entry.route[:200] if entry.route else None,
        _clean_resource(entry.resource_id),
        entry.branch_id if entry.branch_id and _RESOURCE_ID.match(entry.branch_id) else None,
        entry.status,
        entry.correlation_id,
        _clean_reason(entry.reason),
    )
    return audit_id


async def query(
    conn: asyncpg.Connection,
    *,
    staff_id: str | None = None,
    branch_id: str | None = None,
    kind: str | None = None,
    correlation_id: UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; ``start`` inclusive, ``end`` exclusive; every filter optional."""
    rows = await conn.fetch(
        """SELECT * FROM audit_log
           WHERE ($1::text IS NULL OR staff_id = $1)
             AND ($2::text IS NULL OR branch_id = $2)
             AND ($3::text IS NULL OR kind = $3)
             AND ($4::uuid IS NULL OR correlation_id = $4)
             AND ($5::timestamptz IS NULL OR at >= $5)
             AND ($6::timestamptz IS NULL OR at < $6)
           ORDER BY at DESC, audit_id DESC
           LIMIT $7""",
        staff_id,
        branch_id,
        kind,
        correlation_id,
        start,
        end,
        max(1, min(limit, MAX_LIMIT)),
    )
    return [AuditEntry(**dict(r)) for r in rows]


# ----------------------------------------------------------------------------------- middleware


def annotate(request: Request, *, branch_id: str | None = None, resource_id: str | None = None) -> None:
    """Tell the middleware what a route learnt while running (a created resource's id, the branch
    of a loaded resource) when neither is in the path."""
    note: dict[str, str] = request.scope.setdefault("state", {}).setdefault(_ANNOTATION_KEY, {})
    if branch_id is not None:
        note["branch_id"] = branch_id
    if resource_id is not None:
        note["resource_id"] = resource_id


def route_template(path: str, path_params: Mapping[str, Any]) -> str:
    """``/visits/6f1c…/greet`` with ``{visit_id: '6f1c…'}`` → ``/visits/{visit_id}/greet``.

    Built from the matched path's parameters, so it also holds behind router prefixes."""
    by_value: dict[str, str] = {}
    for name, value in path_params.items():
        by_value.setdefault(str(value), name)
    return "/".join(
        "{" + by_value[segment] + "}" if segment in by_value else segment for segment in path.split("/")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            try:
                return bytes(value).decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
    return None


def _ensure_correlation(scope: Scope) -> UUID | None:
    """The request's correlation id; one is assigned (and passed on as a header, so the route's
    events carry the same id) when the client sent none. A malformed one is left to the route."""
    raw = _header(scope, CORRELATION_HEADER)
    if raw is None:
        assigned = uuid.uuid4()
        scope["headers"] = [*scope.get("headers", ()), (CORRELATION_HEADER, str(assigned).encode())]
        return assigned
    try:
        return UUID(raw)
    except ValueError:
        return None


def _declared_action(route: object) -> str | None:
    """The action a route declares (``requires``/``requires_service``), even when the request was
    refused before the dependency recorded it."""
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dep = pending.pop()
        action = getattr(dep.call, ACTION_ATTR, None)
        if isinstance(action, str):
            return action
        pending.extend(dep.dependencies)
    return None


def _actor(state: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(staff id, authenticated): the verified principal (staff or service), else nobody. A
    header naming someone is never an actor (the request failed authentication, or it never
    reached a route)."""
    for key in ("principal", "service_principal"):
        principal = state.get(key)
        staff_id = getattr(principal, "staff_id", None)
        if isinstance(staff_id, str):
            return staff_id, True
    return None, False


def describe(
    scope: Scope, status: int, correlation_id: UUID | None, service: str, at: datetime
) -> AuditEntry:
    """The audit row of a finished (or failed) request: only what the route matched, never the raw
    path, query or body."""
    state: Mapping[str, Any] = scope.get("state") or {}
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    matched = scope.get("route") is not None
    route = route_template(scope.get("path", ""), params) if matched else None
    note: Mapping[str, str] = state.get(_ANNOTATION_KEY) or {}
    check = state.get(BRANCH_CHECK_KEY)
    branch = (
        note.get("branch_id")
        or (str(params[_BRANCH_PARAM]) if _BRANCH_PARAM in params else None)
        or getattr(check, "checked_branch", None)
    )
    resource = note.get("resource_id")
    if resource is None:
        others = [str(v) for k, v in params.items() if k != _BRANCH_PARAM]
        resource = others[-1] if others else None
    staff_id, authenticated = _actor(state)
    resource = _clean_resource(resource)
    return AuditEntry(
        at=at,
        service=service,
        kind="command",
        staff_id=staff_id,
        authenticated=authenticated,
        action=getattr(check, "action", None) or _declared_action(scope.get("route")),
        method=str(scope.get("method", "")),
        route=route,
        resource_id=resource,
        branch_id=branch,
        status=status,
        correlation_id=correlation_id,
    )


class AuditMiddleware:
    """Records every non-GET request in ``audit_log`` before its response starts.

    Needs the runner's ``app.state.ctx`` (pool, clock, service name). A failed audit write is
    logged and counted (``branchcare_audit_writes_total{outcome="failed"}``) but does not turn a
    committed command into an error: the command's events carry actor and correlation id too.
    """

    def __init__(self, app: ASGIApp, service: str | None = None) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _ensure_correlation(scope)
        audited = scope.get("method") not in SAFE_METHODS
        done = False

        async def audited_send(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = True
                if audited:
                    await self._write(scope, message["status"], correlation_id)
                if correlation_id is not None:
                    headers = [h for h in message.get("headers", ()) if h[0].lower() != CORRELATION_HEADER]
                    headers.append((CORRELATION_HEADER, str(correlation_id).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if audited and not done:
                done = True
                await self._write(scope, 500, correlation_id)
            raise

    async def _write(self, scope: Scope, status: int, correlation_id: UUID | None) -> None:
        ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
        service = self.service or getattr(ctx, "name", None) or "unknown"
        try:
            if ctx is None:
                raise RuntimeError("no service context on the app (not started by shared.runner?)")
            entry = describe(scope, status, correlation_id, service, ctx.clock.now())
            async with ctx.pool.acquire() as conn:
                await record(conn, entry)
        except Exception as exc:  # never fail the response for it, but make it visible
            AUDIT_WRITES.labels(service, "failed").inc()
            log.error("audit row for %s %s not written: %s", scope.get("method"), status, type(exc).__name__)
            return
        AUDIT_WRITES.labels(service, "written").inc()


# ------------------------------------------------------------------------------------ GET /audit

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
