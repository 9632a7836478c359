"""The complaint board read model: one row per case, written in the command's transaction.

The board row holds what the lobby's list filters and sorts on; the SLA part (nearest deadline,
at risk, breached) is read live from the service's ``deadlines`` table, so the board never lags
the scheduler. The row also feeds the time-to-acknowledge / time-to-resolve histograms: the old
row says whether this command is the one that acknowledged or resolved the current cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.complaint.domain import Complaint
from services.complaint.metrics import ESCALATIONS, TIME_TO_ACKNOWLEDGE, TIME_TO_RESOLVE
from shared import db_batch
from shared.contracts.complaint import ComplaintClassified, ComplaintEscalated
from shared.contracts.sla import SlaBreached
from shared.customer_aliases import same_customer_sql
from shared.envelope import Envelope

_UPSERT = """
INSERT INTO complaint_board (complaint_id, branch_id, status, is_open, on_hold, level, channel, category,
    nature, urgency, visit_id, incident_id, cycle, received_at, cycle_started_at, acknowledged_at,
    resolved_at, closed_at, updated_at, version, customer_ref, matter_keys, regulatory_profile)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
    $23)
ON CONFLICT (complaint_id) DO UPDATE SET
    status = EXCLUDED.status, is_open = EXCLUDED.is_open, on_hold = EXCLUDED.on_hold,
    level = EXCLUDED.level, category = EXCLUDED.category, nature = EXCLUDED.nature,
    urgency = EXCLUDED.urgency, incident_id = EXCLUDED.incident_id, cycle = EXCLUDED.cycle,
    cycle_started_at = EXCLUDED.cycle_started_at, acknowledged_at = EXCLUDED.acknowledged_at,
    resolved_at = EXCLUDED.resolved_at, closed_at = EXCLUDED.closed_at,
    updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
    customer_ref = EXCLUDED.customer_ref, matter_keys = EXCLUDED.matter_keys,
    regulatory_profile = EXCLUDED.regulatory_profile
"""


async def write_board(
    conn: asyncpg.Connection, before: Complaint, state: Complaint, envelopes: Sequence[Envelope]
) -> None:
    """Upsert the case's board row (queued with the append: ``shared.db_batch``) and observe the
    metrics this change completes.

    No ``SELECT … FOR UPDATE`` of the old row: the row is written only with an append to the
    case's stream in the same transaction, whose version check serialises writers of one case,
    and what the metrics compare with is the case's state before the command (``before``), which
    is what the row held."""
    if not envelopes or state.complaint_id is None:
        return
    await board_row(conn, state, envelopes)
    _observe(before, state, envelopes)


async def board_row(conn: asyncpg.Connection, state: Complaint, envelopes: Sequence[Envelope]) -> None:
    """Upsert the case's board row (also what a rebuild writes, step by step, without metrics)."""
    assert state.channel is not None and state.received_at is not None and state.complaint_id
    last = envelopes[-1]
    c = state.classification
    await db_batch.write(
        conn,
        _UPSERT,
        state.complaint_id,
        last.branch_id,
        state.status.value,
        state.is_open,
        state.on_hold,
        state.level.value,
        state.channel.value,
        c.category.value if c else None,
        c.nature.value if c else None,
        c.urgency.value if c else None,
        state.visit_id,
        state.incident_id,
        state.cycle,
        state.received_at,
        state.cycle_started_at or state.received_at,
        state.acknowledged_at,
        state.resolved_at,
        state.closed_at,
        last.recorded_at,
        last.stream_version,
        state.customer_ref,
        state.matter_keys,
        state.profile,
    )


def _observe(before: Complaint, state: Complaint, envelopes: Sequence[Envelope]) -> None:
    same_cycle = before.received_at is not None and before.cycle == state.cycle
    start = state.cycle_started_at or state.received_at
    assert start is not None
    if state.acknowledged_at and not (same_cycle and before.acknowledged_at):
        TIME_TO_ACKNOWLEDGE.observe(max((state.acknowledged_at - start).total_seconds(), 0.0))
    if state.resolved_at and not (same_cycle and before.resolved_at):
        TIME_TO_RESOLVE.observe(max((state.resolved_at - start).total_seconds(), 0.0))
    types = {e.type for e in envelopes}
    trigger = (
        "sla_breach"
        if SlaBreached.event_type in types
        else "classification"
        if ComplaintClassified.event_type in types
        else "manual"
    )
    for env in envelopes:
        if env.type == ComplaintEscalated.event_type:
            ESCALATIONS.labels(env.data["to_level"], trigger if env.data.get("automatic") else "manual").inc()


# -------------------------------------------------------------------------------------- queries

SLA_FILTERS = ("on_track", "at_risk", "breached", "paused", "none")

_BOARD = """
SELECT b.*, n.sla AS next_sla, n.due_at AS next_due_at,
       CASE WHEN s.breached THEN 'breached' WHEN s.at_risk THEN 'at_risk'
            WHEN s.running THEN 'on_track' WHEN s.paused THEN 'paused' ELSE 'none' END AS sla_status
FROM complaint_board b
LEFT JOIN LATERAL (
    SELECT d.sla, d.due_at FROM deadlines d
    WHERE d.subject_id = b.complaint_id::text AND d.state IN ('running', 'breached')
    ORDER BY d.due_at LIMIT 1
) n ON true
LEFT JOIN LATERAL (
    SELECT bool_or(d.state = 'breached') AS breached,
           bool_or(d.state = 'running' AND array_to_string(d.fired, ',') LIKE '%at_risk%') AS at_risk,
           bool_or(d.state = 'running') AS running,
           bool_or(d.state = 'paused') AS paused
    FROM deadlines d
    WHERE d.subject_id = b.complaint_id::text AND d.state IN ('running', 'paused', 'breached')
) s ON true
"""


async def board(
    conn: asyncpg.Connection,
    branch_id: str,
    *,
    status: str | None,
    sla: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The branch's cases, nearest deadline first (cases without a running deadline last)."""
    where = ["b.branch_id = $1"]
    args: list[Any] = [branch_id]
    if status == "open":
        where.append("b.is_open")
    elif status == "on_hold":
        where.append("b.is_open AND b.on_hold")
    elif status is not None:
        args.append(status)
        where.append(f"b.status = ${len(args)}")
    query = f"SELECT * FROM ({_BOARD} WHERE {' AND '.join(where)}) q"
    if sla is not None:
        args.append(sla)
        query += f" WHERE q.sla_status = ${len(args)}"
    args.append(limit)
    query += f" ORDER BY q.next_due_at NULLS LAST, q.received_at LIMIT ${len(args)}"
    return [dict(r) for r in await conn.fetch(query, *args)]


async def incident_cases(conn: asyncpg.Connection, incident_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM complaint_board WHERE incident_id = $1 ORDER BY received_at", incident_id
    )
    return [dict(r) for r in rows]


async def open_case_for_visit(conn: asyncpg.Connection, visit_id: UUID) -> UUID | None:
    return await conn.fetchval(
        """SELECT complaint_id FROM complaint_board WHERE visit_id = $1 AND is_open
           ORDER BY received_at LIMIT 1""",
        visit_id,
    )


async def open_case_for_matter(
    conn: asyncpg.Connection, customer_ref: str, matter_key: str, profile: str, branch_id: str
) -> UUID | None:
    """The complainant's open case about this matter in this branch (same profile), if any: a
    repeat joins it. A customer the vault merged is one complainant under both refs."""
    return await conn.fetchval(
        f"""SELECT complaint_id FROM complaint_board
           WHERE customer_ref IN {same_customer_sql("$1")} AND is_open AND $2 = ANY(matter_keys)
             AND regulatory_profile = $3 AND branch_id = $4
           ORDER BY received_at LIMIT 1""",
        customer_ref,
        matter_key,
        profile,
        branch_id,
    )


async def record_departure(conn: asyncpg.Connection, visit_id: UUID, branch_id: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO visit_departures (visit_id, branch_id, left_at) VALUES ($1, $2, $3)
           ON CONFLICT (visit_id) DO NOTHING""",
        visit_id,
        branch_id,
        at,
    )


async def departure(conn: asyncpg.Connection, visit_id: UUID) -> datetime | None:
    return await conn.fetchval("SELECT left_at FROM visit_departures WHERE visit_id = $1", visit_id)


async def status_counts(conn: asyncpg.Connection) -> tuple[dict[str, int], int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM complaint_board GROUP BY status")
    on_hold = await conn.fetchval("SELECT count(*) FROM complaint_board WHERE is_open AND on_hold")
    return {r["status"]: r["n"] for r in rows}, int(on_hold or 0)


async def prune_departures(conn: asyncpg.Connection, before: datetime) -> None:
    await conn.execute("DELETE FROM visit_departures WHERE left_at < $1", before)
