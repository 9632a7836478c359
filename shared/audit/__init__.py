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

from shared.audit.entry import AuditEntry
from shared.audit.middleware import AuditMiddleware, forget_written, note, write_in_transaction
from shared.audit.request import annotate, describe, route_template
from shared.audit.routes import audit_router, install_audit
from shared.audit.store import query, record, record_many
from shared.audit.writer import AUDIT_QUEUED, AUDIT_WRITES, AuditWriter

__all__ = [
    "AUDIT_QUEUED",
    "AUDIT_WRITES",
    "AuditEntry",
    "AuditMiddleware",
    "AuditWriter",
    "annotate",
    "audit_router",
    "describe",
    "forget_written",
    "install_audit",
    "note",
    "query",
    "record",
    "record_many",
    "route_template",
    "write_in_transaction",
]
