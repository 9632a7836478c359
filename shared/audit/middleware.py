"""The command row of every non-GET request: opened by :class:`AuditMiddleware`, written in the
command's transaction (:func:`write_in_transaction`) or, when none wrote it, by the middleware
itself after the answer (late if need be, :mod:`shared.audit.writer`)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import db_batch
from shared.asgi import HttpMiddleware
from shared.audit.request import (
    ANNOTATION_KEY,
    CORRELATION_HEADER,
    annotate_scope,
    correlation_of,
    describe,
    route_template,
)
from shared.audit.store import INSERT, row_values
from shared.audit.writer import AUDIT_WRITES, AuditWriter
from shared.logs import correlation_id_var

log = logging.getLogger(__name__)

#: methods that change nothing: not recorded by the middleware (PII reads record themselves)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
        annotate_scope(pending.scope, branch_id=branch_id, resource_id=resource_id, status=status)


def _declared_status(scope: Scope) -> int:
    notes: Mapping[str, Any] = (scope.get("state") or {}).get(ANNOTATION_KEY) or {}
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
    await db_batch.write(conn, INSERT, *row_values(entry))  # with the command's last statement
    pending.written = status


def forget_written() -> None:
    """The transaction that wrote the current request's row did not (surely) commit: the
    middleware writes the row itself after the answer (``EventStore(commit_failed=...)``)."""
    pending = _current()
    if pending is not None:
        pending.written = None


class AuditMiddleware(HttpMiddleware):
    """Opens the pending command row of every non-GET request, and writes it itself (late if need
    be) when no transaction of the request wrote it, or when the request answered something else
    than what its transaction recorded.

    Needs the runner's ``app.state.ctx`` (pool, clock, service name).
    """

    def __init__(self, app: ASGIApp, service: str | None = None) -> None:
        super().__init__(app)
        self.service = service
        self.writer: AuditWriter | None = None
        #: ``AUDIT_WRITES.labels(service, "in_transaction")`` per service: the label lookup is
        #: done once, not on every command
        self._in_transaction: dict[str, Any] = {}

    def _writer(self, service: str) -> AuditWriter:
        if self.writer is None:
            self.writer = AuditWriter(service)
        return self.writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._draining(receive), send)
            return
        await super().__call__(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        correlation_id, logged_id = correlation_of(scope)
        # the request's log lines carry its correlation id (what shared.logs.LogContextMiddleware
        # did as a middleware of its own: one layer less on every request)
        log_token = correlation_id_var.set(logged_id)
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
            correlation_id_var.reset(log_token)

    async def _finish(self, pending: _Pending, status: int) -> None:
        if pending.written is not None:
            counter = self._in_transaction.get(pending.service)
            if counter is None:
                counter = self._in_transaction[pending.service] = AUDIT_WRITES.labels(
                    pending.service, "in_transaction"
                )
            counter.inc()
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
