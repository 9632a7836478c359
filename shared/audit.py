"""The audit trail: every command and every PII read is attributable and queryable by ``admin``.

One append-only ``audit_log`` table per service schema (``shared/sql/0004_audit.sql``), one
``command`` row per non-GET request, plus the vault's PII rows:

- **In the command's own transaction.** :class:`AuditMiddleware` opens a *pending* row for every
  non-GET request (a context variable); the event store writes it just before the command's
  transaction commits (``EventStore(before_commit=write_in_transaction)``, wired by the runner),
  and the vault does the same in its transactions. So a committed command always has its row and
  a row in the table never describes a command that rolled back. Code that learns the answer
  inside the transaction tells the row with :func:`note` (``shared.idempotency.Create.record``
  does for every create: the created or merged-into id and 201/200).
- **Late, for requests that commit nothing** (refused 4xx, failed 5xx, a 503 while PostgreSQL
  restarts): the middleware writes the row before the response starts when the database answers
  within :data:`WRITE_TIMEOUT_SECONDS`; otherwise the row goes to a bounded in-memory queue
  (:data:`MAX_QUEUED`) that a background task writes, in order, as soon as PostgreSQL answers again
  — the response never waits longer than that timeout, and once the queue holds rows new ones
  join it without trying. Rows beyond the bound are dropped and counted
  (``branchcare_audit_writes_total{outcome="dropped"}``); the queue is drained at shutdown.
  A row is written at least once: a write that timed out on a database that did commit it can
  appear twice (same correlation id), never zero times. The queue lives in the process: a crash
  while the database is unreachable loses what it held (the log says how many were queued).
- :func:`record` is called explicitly inside the transaction of a PII operation (the vault's
  reads, registrations, erasures, contact resolutions), so an unaudited read cannot happen.

Each row: who (the verified principal; nobody when authentication failed), when (the service
clock at the request), method, route *template*, resource id, branch, status and correlation id.
Never stored: request bodies, query strings, raw paths (an unmatched path could hold anything).
Free text (a read's reason) is scrubbed of phone/ID numbers and bounded, like everywhere else.

``install_audit(app)`` adds the middleware and ``GET /audit`` (action ``audit.read``). Call it
after ``install_auth(app)`` so the audit sees the final status (outermost middleware).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import db_batch
from shared.auth import Principal, requires
from shared.auth.dependencies import ACTION_ATTR, BRANCH_CHECK_KEY
from shared.contracts.refs import is_pseudonym
from shared.pii import scrub_text

log = logging.getLogger(__name__)

__all__ = [
    "AUDIT_QUEUED",
    "AUDIT_WRITES",
    "AuditEntry",
    "AuditMiddleware",
    "AuditWriter",
    "annotate",
    "forget_written",
    "install_audit",
    "note",
    "query",
    "record",
    "route_template",
    "write_in_transaction",
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

#: how long a request waits for its late row to be written before the row is queued instead
WRITE_TIMEOUT_SECONDS = 1.0
#: rows held in memory while PostgreSQL does not answer; more are dropped (and counted)
MAX_QUEUED = 10_000
FLUSH_BATCH = 500
FLUSH_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

AUDIT_WRITES = Counter(
    "branchcare_audit_writes_total",
    "Command audit rows by outcome: in_transaction (with the command), written (before the "
    "response), queued (database unreachable), late (written from the queue), dropped (queue full)",
    ["service", "outcome"],
)
AUDIT_QUEUED = Gauge(
    "branchcare_audit_queued_rows",
    "Audit rows held in memory until PostgreSQL answers again",
    ["service"],
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
    """Kept when it is a pseudonymous reference (a real ``customer_ref`` may hold a run of digits
    by chance) or holds nothing that looks like a number."""
    return value if is_pseudonym(value) or scrub_text(value) == value else None


_INSERT = """INSERT INTO audit_log (at, service, kind, staff_id, authenticated, action, method, route,
               resource_id, branch_id, status, correlation_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""


def _row(entry: AuditEntry) -> tuple[Any, ...]:
    """The stored values: masked, bounded, ids only when they look like ids."""
    if not _KIND.match(entry.kind):
        raise ValueError("audit kind must be a lower-case dotted name")
    staff_id = entry.staff_id if entry.staff_id and _STAFF_ID.match(entry.staff_id) else None
    return (
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


async def record(conn: asyncpg.Connection, entry: AuditEntry) -> int:
    """Insert ``entry`` in the caller's transaction (so the audited act and its row commit
    together); returns its id."""
    audit_id: int = await conn.fetchval(_INSERT + " RETURNING audit_id", *_row(entry))
    return audit_id


async def record_many(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> None:
    """Insert ``entries`` in one round trip (the late writer's batches)."""
    await conn.executemany(_INSERT, [_row(e) for e in entries])


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
    _annotate(request.scope, branch_id=branch_id, resource_id=resource_id)


def _annotate(
    scope: Scope, *, branch_id: str | None = None, resource_id: str | None = None, status: int | None = None
) -> None:
    notes: dict[str, Any] = scope.setdefault("state", {}).setdefault(_ANNOTATION_KEY, {})
    if branch_id is not None:
        notes["branch_id"] = branch_id
    if resource_id is not None:
        notes["resource_id"] = resource_id
    if status is not None:
        notes["status"] = status


# ------------------------------------------------------------------- the row in the transaction


@dataclass
class _Pending:
    """The command row of the request being served, until a transaction writes it."""

    scope: Scope
    correlation_id: UUID | None
    service: str
    ctx: Any
    task: asyncio.Task[Any] | None
    #: the status written with the command's transaction (None: not written)
    written: int | None = None


_PENDING: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar(
    "branchcare_audit_pending", default=None
)


def _current() -> _Pending | None:
    """The request's pending row, only in the request's own task (a task it started inherits
    the context but is not the request)."""
    pending = _PENDING.get()
    if pending is None or pending.task is not asyncio.current_task():
        return None
    return pending


def note(*, resource_id: str | None = None, status: int | None = None, branch_id: str | None = None) -> None:
    """Tell the current request's audit row, from code without the request (inside the command's
    transaction), what the command produced: the resource it created or merged into and the
    status the route will answer. A no-op outside a request."""
    pending = _current()
    if pending is not None:
        _annotate(pending.scope, branch_id=branch_id, resource_id=resource_id, status=status)


def _declared_status(scope: Scope) -> int:
    notes: Mapping[str, Any] = (scope.get("state") or {}).get(_ANNOTATION_KEY) or {}
    noted = notes.get("status")
    if isinstance(noted, int):
        return noted
    declared = getattr(scope.get("route"), "status_code", None)
    return declared if isinstance(declared, int) else 200


async def write_in_transaction(conn: asyncpg.Connection) -> None:
    """Write the current request's command row in ``conn``'s transaction, just before it commits
    (``EventStore(before_commit=...)``; the vault calls it in its own transactions). Once per
    request; a no-op outside one (reactions, the scheduler, the relay)."""
    pending = _current()
    if pending is None or pending.written is not None:
        return
    status = _declared_status(pending.scope)
    entry = describe(pending.scope, status, pending.correlation_id, pending.service, pending.ctx.clock.now())
    await db_batch.write(conn, _INSERT, *_row(entry))  # with the command's last statement
    pending.written = status


def forget_written() -> None:
    """The transaction that wrote the current request's row did not (surely) commit: the
    middleware writes the row itself after the answer (``EventStore(commit_failed=...)``)."""
    pending = _current()
    if pending is not None:
        pending.written = None


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
    notes: Mapping[str, Any] = state.get(_ANNOTATION_KEY) or {}
    check = state.get(BRANCH_CHECK_KEY)
    branch = (
        notes.get("branch_id")
        or (str(params[_BRANCH_PARAM]) if _BRANCH_PARAM in params else None)
        or getattr(check, "checked_branch", None)
    )
    resource = notes.get("resource_id")
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


class AuditWriter:
    """Writes the rows no transaction wrote: now if PostgreSQL answers within
    :data:`WRITE_TIMEOUT_SECONDS`, else later, from a bounded in-memory queue, in order."""

    def __init__(
        self,
        service: str,
        *,
        max_queued: int = MAX_QUEUED,
        timeout: float = WRITE_TIMEOUT_SECONDS,
        backoff: Sequence[float] = FLUSH_BACKOFF_SECONDS,
    ) -> None:
        self.service = service
        self.max_queued = max_queued
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self.queue: deque[AuditEntry] = deque()
        self.pool: asyncpg.Pool | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._queued_since: float | None = None

    async def submit(self, pool: asyncpg.Pool, entry: AuditEntry) -> None:
        self.pool = pool
        if not self.queue:
            try:
                await self._write(pool, [entry])
            except Exception as exc:  # unreachable, restarting, timed out: keep it for later
                self._enqueue(entry, exc)
                return
            AUDIT_WRITES.labels(self.service, "written").inc()
            return
        self._enqueue(entry, None)

    def _enqueue(self, entry: AuditEntry, error: BaseException | None) -> None:
        if len(self.queue) >= self.max_queued:
            AUDIT_WRITES.labels(self.service, "dropped").inc()
            log.error(
                "audit row for %s %s %s (correlation %s) dropped: %d rows already wait for PostgreSQL",
                entry.method,
                entry.route,
                entry.status,
                entry.correlation_id,
                len(self.queue),
            )
            return
        if not self.queue:
            self._queued_since = time.monotonic()
            log.warning(
                "audit rows are held in memory until PostgreSQL answers (%s; at most %d)",
                type(error).__name__ if error else "queue not empty",
                self.max_queued,
            )
        self.queue.append(entry)
        AUDIT_WRITES.labels(self.service, "queued").inc()
        AUDIT_QUEUED.labels(self.service).set(len(self.queue))
        if self._flusher is None or self._flusher.done():
            # a task of its own context: not the request's (its pending row is not ours)
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), name=f"{self.service}-audit-flush", context=contextvars.Context()
            )

    async def _write(self, pool: asyncpg.Pool, entries: Sequence[AuditEntry]) -> None:
        """One round trip (a batch in one transaction), bounded by the timeout as a whole."""
        async with asyncio.timeout(self.timeout * max(1, len(entries) // 50)):
            async with pool.acquire() as conn:
                if len(entries) == 1:
                    await conn.execute(_INSERT, *_row(entries[0]))
                else:
                    async with conn.transaction():
                        await record_many(conn, entries)

    async def flush(self) -> int:
        """Write the queued rows, oldest first, in batches; returns how many were written.
        Raises (and keeps the rest) when PostgreSQL still does not answer."""
        written = 0
        while self.queue and self.pool is not None:
            batch = [self.queue[i] for i in range(min(FLUSH_BATCH, len(self.queue)))]
            await self._write(self.pool, batch)
            for _ in batch:
                self.queue.popleft()
            written += len(batch)
            AUDIT_WRITES.labels(self.service, "late").inc(len(batch))
            AUDIT_QUEUED.labels(self.service).set(len(self.queue))
        if written and not self.queue and self._queued_since is not None:
            log.warning(
                "%d audit rows written late, %.1f s after PostgreSQL stopped answering",
                written,
                time.monotonic() - self._queued_since,
            )
            self._queued_since = None
        return written

    async def _flush_loop(self) -> None:
        attempt = 0
        while self.queue:
            await asyncio.sleep(self.backoff[min(attempt, len(self.backoff) - 1)])
            try:
                await self.flush()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.info("audit: %d rows still wait for PostgreSQL (%s)", len(self.queue), type(exc).__name__)

    async def drain(self, timeout: float) -> None:
        """At shutdown: a last attempt to write what is queued, bounded by ``timeout``."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if not self.queue:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except Exception as exc:
            log.error("audit: %d rows lost at shutdown, PostgreSQL did not answer (%r)", len(self.queue), exc)


class AuditMiddleware:
    """Opens the pending command row of every non-GET request, and writes it itself (late if need
    be) when no transaction of the request wrote it, or when the request answered something else
    than what its transaction recorded.

    Needs the runner's ``app.state.ctx`` (pool, clock, service name).
    """

    def __init__(self, app: ASGIApp, service: str | None = None) -> None:
        self.app = app
        self.service = service
        self.writer: AuditWriter | None = None

    def _writer(self, service: str) -> AuditWriter:
        if self.writer is None:
            self.writer = AuditWriter(service)
        return self.writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._draining(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _ensure_correlation(scope)
        audited = scope.get("method") not in SAFE_METHODS
        done = False
        ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
        service = self.service or getattr(ctx, "name", None) or "unknown"
        pending = _Pending(scope, correlation_id, service, ctx, asyncio.current_task())
        token = _PENDING.set(pending if audited and ctx is not None else None)

        async def audited_send(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = True
                if audited:
                    await self._finish(pending, message["status"])
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
                await self._finish(pending, 500)
            raise
        finally:
            _PENDING.reset(token)

    async def _finish(self, pending: _Pending, status: int) -> None:
        if pending.written is not None:
            AUDIT_WRITES.labels(pending.service, "in_transaction").inc()
            if pending.written == status:
                return
            log.warning(
                "%s %s committed as %s but answered %s: a second audit row says so",
                pending.scope.get("method"),
                route_template(pending.scope.get("path", ""), pending.scope.get("path_params") or {}),
                pending.written,
                status,
            )
        ctx = pending.ctx
        try:
            if ctx is None:
                raise RuntimeError("no service context on the app (not started by shared.runner?)")
            entry = describe(pending.scope, status, pending.correlation_id, pending.service, ctx.clock.now())
        except Exception as exc:  # never fail the response for it, but make it visible
            AUDIT_WRITES.labels(pending.service, "dropped").inc()
            log.error("audit row for %s %s not written: %s", pending.scope.get("method"), status, exc)
            return
        await self._writer(pending.service).submit(ctx.pool, entry)

    def _draining(self, receive: Receive) -> Receive:
        """The app's lifespan, with a last write of the queued rows before it shuts down."""

        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.writer is not None:
                await self.writer.drain(timeout=5.0)
            return message

        return wrapped


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
