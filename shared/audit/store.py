"""The ``audit_log`` table: insert in the caller's transaction, insert a batch, query newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.audit.entry import KIND, RESOURCE_ID, STAFF_ID, AuditEntry, clean_reason, clean_resource

MAX_LIMIT = 1000

INSERT = """INSERT INTO audit_log (at, service, kind, staff_id, authenticated, action, method, route,
               resource_id, branch_id, status, correlation_id, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""


def row_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The stored values: masked, bounded, ids only when they look like ids."""
    if not KIND.match(entry.kind):
        raise ValueError("audit kind must be a lower-case dotted name")
    staff_id = entry.staff_id if entry.staff_id and STAFF_ID.match(entry.staff_id) else None
    return (
        entry.at,
        entry.service,
        entry.kind,
        staff_id,
        entry.authenticated and staff_id is not None,
        entry.action,
        entry.method,
        entry.route[:200] if entry.route else None,
        clean_resource(entry.resource_id),
        entry.branch_id if entry.branch_id and RESOURCE_ID.match(entry.branch_id) else None,
        entry.status,
        entry.correlation_id,
        clean_reason(entry.reason),
    )


async def record(conn: asyncpg.Connection, entry: AuditEntry) -> int:
    """Insert ``entry`` in the caller's transaction (so the audited act and its row commit
    together); returns its id."""
    audit_id: int = await conn.fetchval(INSERT + " RETURNING audit_id", *row_values(entry))
    return audit_id


async def record_many(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> None:
    """Insert ``entries`` in one round trip (the late writer's batches)."""
    await conn.executemany(INSERT, [row_values(e) for e in entries])


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
