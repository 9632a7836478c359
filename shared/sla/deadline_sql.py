"""How deadlines are written to the ``deadlines`` table: the columns of a :class:`Deadline`, every
changed deadline of a command in one upsert, and an open deadline ended without being read first
(:data:`END`, issue 19).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

if TYPE_CHECKING:
    from shared.sla.deadlines import Deadline


def row_values(d: Deadline) -> tuple[Any, ...]:
    return (
        d.deadline_id,
        d.subject_type,
        d.subject_id,
        d.stream_id,
        d.branch_id,
        d.sla,
        d.policy,
        d.rule,
        d.counting,
        d.duration.total_seconds(),
        list(d.milestones),
        d.started_at,
        pauses_json(d.pauses),
        d.state,
        d.due_at,
        list(d.fired),
        d.next_fire_at,
        d.next_fire_kind,
        d.ended_at,
    )


COLUMNS = """deadline_id, subject_type, subject_id, stream_id, branch_id, sla, policy, rule, counting,
    duration_seconds, milestones, started_at, pauses, state, due_at, fired, next_fire_at, next_fire_kind,
    ended_at"""

#: the columns of a :data:`UPSERT_MANY` row, in :func:`row_values`' order, with the types the JSON
#: record is read as (milestones, pauses and fired travel as JSON texts: arrays of arrays must be
#: rectangular in PostgreSQL, and a text is what the row holds already)
_RECORD = """deadline_id uuid, subject_type text, subject_id text, stream_id text, branch_id text, sla text,
    policy text, rule text, counting text, duration_seconds double precision, milestones text,
    started_at timestamptz, pauses text, state text, due_at timestamptz, fired text,
    next_fire_at timestamptz, next_fire_kind text, ended_at timestamptz"""
_NAMES = tuple(column.split()[0] for column in _RECORD.split(","))
assert _NAMES == tuple(c.strip() for c in COLUMNS.split(",")), "the record's columns are the table's"

#: every changed deadline of a command in one statement: one row per SLA, all of them in ONE JSON
#: parameter (``$1``, an array of objects, :func:`upsert_arguments`). Nineteen array parameters
#: cost asyncpg an iterable check and an element encoder per column and per row on every command
#: (issue 19: half of a create's ``_do_execute`` was encoding arrays); one text costs a JSON dump
#: in Rust, and PostgreSQL reads it back with the same types.
UPSERT_MANY = f"""
INSERT INTO deadlines ({COLUMNS})
SELECT r.deadline_id, r.subject_type, r.subject_id, r.stream_id, r.branch_id, r.sla, r.policy, r.rule,
       r.counting, r.duration_seconds,
       ARRAY(SELECT jsonb_array_elements_text(r.milestones::jsonb)::double precision),
       r.started_at, r.pauses::jsonb, r.state, r.due_at,
       ARRAY(SELECT jsonb_array_elements_text(r.fired::jsonb)), r.next_fire_at, r.next_fire_kind, r.ended_at
FROM json_to_recordset($1::json) AS r({_RECORD})
ON CONFLICT (subject_id, sla) DO UPDATE SET
    deadline_id = EXCLUDED.deadline_id, subject_type = EXCLUDED.subject_type,
    stream_id = EXCLUDED.stream_id, branch_id = EXCLUDED.branch_id, policy = EXCLUDED.policy,
    rule = EXCLUDED.rule, counting = EXCLUDED.counting, duration_seconds = EXCLUDED.duration_seconds,
    milestones = EXCLUDED.milestones, started_at = EXCLUDED.started_at, pauses = EXCLUDED.pauses,
    state = EXCLUDED.state, due_at = EXCLUDED.due_at, fired = EXCLUDED.fired,
    next_fire_at = EXCLUDED.next_fire_at, next_fire_kind = EXCLUDED.next_fire_kind,
    ended_at = EXCLUDED.ended_at, updated_at = now()
"""


def upsert_arguments(deadlines: Sequence[Deadline]) -> list[str]:
    """:data:`UPSERT_MANY`'s one argument: the deadlines as a JSON array of objects (instants with
    their offsets and microseconds, ids as text, the duration in seconds: exact both ways)."""
    rows = []
    for d in deadlines:
        row = dict(zip(_NAMES, row_values(d), strict=True))
        row["milestones"] = _list_json(tuple(d.milestones))
        row["fired"] = _list_json(tuple(d.fired))
        rows.append(row)
    return [to_json(rows).decode()]


def pauses_json(pauses: Sequence[tuple[datetime, datetime | None]]) -> str:
    if not pauses:  # most deadlines: no JSON encoder run for nothing
        return "[]"
    return json.dumps([[lo.isoformat(), hi.isoformat() if hi else None] for lo, hi in pauses])


@functools.lru_cache(maxsize=512)
def _list_json(values: tuple[float, ...] | tuple[str, ...]) -> str:
    """Milestones and fired marks as JSON: a handful of distinct lists, encoded once each."""
    return json.dumps(list(values))


#: an open deadline ended (``met`` or ``cancelled``: $3, at $4; $5 the same instant as ISO text)
#: as ``Deadlines`` ends one it has read: an open pause closed then, no milestone left
END = """
UPDATE deadlines SET state = $3, ended_at = $4, next_fire_at = NULL, next_fire_kind = NULL,
    pauses = CASE WHEN state = 'paused' THEN
        jsonb_set(pauses, ARRAY[(jsonb_array_length(pauses) - 1)::text, '1'], to_jsonb($5::text))
        ELSE pauses END,
    updated_at = now()
WHERE subject_id = $1 AND sla = $2 AND state IN ('running', 'paused', 'breached')
"""
