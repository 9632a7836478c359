"""The ``tasks`` row of a task, written with each change of its stream (``FollowUpApp._after_change``).

The row goes as a JSON array of one object (:data:`UPSERT_ROWS`), whoever writes it: a staff
command, the SLA clock and a rebuild send it as one statement's one parameter; in a consumer
batch's reactions (``shared.reactions``) the flush joins the rows of every task the batch changed
into ONE part of its append statement (``reactions.json_rows``), instead of one execution per task
(issue 19: a batch of new complaints wrote its tasks with an ``executemany`` of one upsert each).
The batch changes each task's stream once, so no two of its rows are one task's (one upsert may
not touch a row twice).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic_core import to_json

from services.followup.decider import Task
from shared import db_batch
from shared.contracts.text import TextRef

_COLUMNS = """task_id, branch_id, kind, status, owner, due_at, reason, subject, complaint_id, customer_ref,
    cause_event_id, previous_task_id, scheduled_at, attempts, reached, last_note_ref, closed_at,
    close_note_ref, verified, at_risk_at, breached_at, version, regulatory_sla, close_rule, about,
    paused_at"""

_ON_CONFLICT = """ON CONFLICT (task_id) DO UPDATE SET
    status = EXCLUDED.status, owner = EXCLUDED.owner, attempts = EXCLUDED.attempts,
    reached = EXCLUDED.reached, last_note_ref = EXCLUDED.last_note_ref,
    closed_at = EXCLUDED.closed_at, close_note_ref = EXCLUDED.close_note_ref,
    close_rule = EXCLUDED.close_rule, about = EXCLUDED.about,
    verified = EXCLUDED.verified, at_risk_at = EXCLUDED.at_risk_at,
    breached_at = EXCLUDED.breached_at, version = EXCLUDED.version, updated_at = now(),
    due_at = EXCLUDED.due_at, paused_at = EXCLUDED.paused_at"""

#: the columns of an :data:`UPSERT_ROWS` object and the types they are read as (the notes and
#: ``about`` travel as JSON values, read as jsonb as they are)
_RECORD = """task_id uuid, branch_id text, kind text, status text, owner text, due_at timestamptz,
    reason text, subject text, complaint_id uuid, customer_ref text, cause_event_id uuid,
    previous_task_id uuid, scheduled_at timestamptz, attempts int, reached boolean, last_note_ref jsonb,
    closed_at timestamptz, close_note_ref jsonb, verified boolean, at_risk_at timestamptz,
    breached_at timestamptz, version int, regulatory_sla text, close_rule text, about jsonb,
    paused_at timestamptz"""
_NAMES = tuple(c.split()[0] for c in _RECORD.split(","))
assert _NAMES == tuple(c.strip() for c in _COLUMNS.split(",")), "the record's columns are the table's"

#: tasks' rows from ONE parameter, a JSON array of objects (``shared.reactions.json_rows``)
UPSERT_ROWS = f"""INSERT INTO tasks ({_COLUMNS})
SELECT {", ".join(f"r.{n}" for n in _NAMES)}
FROM json_to_recordset($1::json) AS r({_RECORD})
{_ON_CONFLICT}"""


def _row(t: Task, branch_id: str, version: int) -> tuple[Any, ...]:
    """The row's values in :data:`_COLUMNS`' order (the notes and ``about`` as JSON values)."""
    assert t.kind is not None and t.due_at is not None
    return (
        t.task_id,
        branch_id,
        t.kind.value,
        t.status.value,
        t.owner,
        t.due_at,
        t.reason,
        t.subject,
        t.complaint_id,
        t.customer_ref,
        t.cause_event_id,
        t.previous_task_id,
        t.scheduled_at or t.due_at,
        t.attempts,
        t.reached,
        _value(t.last_note),
        t.closed_at,
        _value(t.close_note),
        t.verified,
        t.at_risk_at,
        t.breached_at,
        version,
        t.regulatory_sla,
        t.close_rule,
        [r.model_dump(mode="json") for r in t.about],
        t.paused_at,
    )


async def upsert(conn: asyncpg.Connection, t: Task, branch_id: str, version: int) -> None:
    """Queue (``shared.db_batch``) the task's row, a JSON row (joined with the batch's others inside
    a consumer batch's reactions)."""
    row = dict(zip(_NAMES, _row(t, branch_id, version), strict=True))
    await db_batch.write(conn, UPSERT_ROWS, to_json([row]).decode())


def _value(ref: TextRef | None) -> dict[str, Any] | None:
    return None if ref is None else ref.model_dump(mode="json")
