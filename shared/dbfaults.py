"""A truthful answer when PostgreSQL fails under a request: 503 JSON, never a bare 500.

Two answers, because the client must know whether to retry:

- **Nothing was recorded** (:class:`DatabaseUnavailable`): the database failed before the
  command's COMMIT was sent: no connection, the server refused or aborted the statement
  (restart, shutdown, too many connections), or the connection broke inside a transaction that
  had not committed (PostgreSQL rolls it back). Safe to retry: ``503`` with ``Retry-After``.
- **Outcome unknown** (:class:`OutcomeUnknown`): the connection broke while the COMMIT (or a
  single-statement write, which commits itself) was on its way. The command may or may not have
  committed; the answer carries the correlation id to look it up (``GET /audit``, the resource),
  and a create retried with the same ``Idempotency-Key`` returns the first result either way.
  A single-statement append that broke is first looked up once (its first event's id); if the
  database answers, the client gets the real outcome instead.

:class:`DatabaseFaultMiddleware` turns both, and any connection-class error that reaches it
unclassified, into that 503 (inside the audit middleware, so the audit row says 503 and is
written — late if need be, see ``shared.audit``). An unclassified error of a safe method (GET)
recorded nothing; of another method it is reported as outcome unknown unless the error itself
proves the server never ran the statement.
"""

from __future__ import annotations

import json
import logging

import asyncpg
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import HttpMiddleware

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
NOTHING_RECORDED = "database unavailable; nothing was recorded"
UNKNOWN = (
    "database connection lost while committing; outcome unknown: look the request up by its "
    "correlation id before repeating it, or repeat a create with the same Idempotency-Key"
)

DB_FAULT_ANSWERS = Counter(
    "branchcare_database_fault_responses_total",
    "Requests answered 503 because PostgreSQL failed, by outcome (nothing_recorded, outcome_unknown)",
    ["service", "outcome"],
)

#: errors meaning the server (or the way to it) is gone; never a bug of the request
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect or pool acquire timed out
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError ("closed in the middle")
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)

#: errors that prove the server did not run (or rolled back) the statement
_NOT_RUN: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


class DatabaseUnavailable(Exception):
    """PostgreSQL failed before the command committed: nothing was recorded."""


class OutcomeUnknown(Exception):
    """The connection broke during the commit: the command may or may not have committed."""


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, CONNECTION_ERRORS):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def is_broken_connection(exc: BaseException) -> bool:
    """A connection error, or asyncpg's protocol left mid-way by a connection the server just
    terminated (``InternalClientError``): where a retry is safe (a read, BEGIN), retry."""
    return is_connection_error(exc) or isinstance(exc, asyncpg.InternalClientError)


def proves_nothing_ran(exc: BaseException) -> bool:
    """The server refused the statement, or the client never sent it (asyncpg checks that the
    connection is open before it writes: "cannot perform operation: connection is closed")."""
    if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
        return True
    return isinstance(exc, (*_NOT_RUN, asyncpg.InternalClientError))


def _correlation(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == b"x-correlation-id":
            return bytes(value).decode("latin-1")
    return None


def _outcome(exc: BaseException, method: str) -> str | None:
    """``nothing_recorded``, ``outcome_unknown``, or None for an error that is not the database's."""
    if isinstance(exc, OutcomeUnknown):
        return "outcome_unknown"
    if isinstance(exc, DatabaseUnavailable):
        return "nothing_recorded"
    if not is_broken_connection(exc):
        return None
    if method in ("GET", "HEAD", "OPTIONS") or proves_nothing_ran(exc):
        return "nothing_recorded"
    return "outcome_unknown"


class DatabaseFaultMiddleware(HttpMiddleware):
    """Answers a database failure that no route handled with a 503 JSON (see the module doc)."""

    def __init__(self, app: ASGIApp, service: str = "unknown") -> None:
        super().__init__(app)
        self.service = service

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            outcome = _outcome(exc, str(scope.get("method", "")))
            if outcome is None or started:
                raise
            await self._answer(scope, send, exc, outcome)

    async def _answer(self, scope: Scope, send: Send, exc: BaseException, outcome: str) -> None:
        correlation_id = _correlation(scope)
        DB_FAULT_ANSWERS.labels(self.service, outcome).inc()
        cause = exc.__cause__ or exc
        log.warning(
            "%s %s answered 503 (%s): %s (correlation %s)",
            scope.get("method"),
            getattr(scope.get("route"), "path", "?"),  # the template, never the raw path
            outcome.replace("_", " "),
            type(cause).__name__,
            correlation_id,
        )
        body = {
            "detail": NOTHING_RECORDED if outcome == "nothing_recorded" else UNKNOWN,
            "outcome": outcome,
            "correlation_id": correlation_id,
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
