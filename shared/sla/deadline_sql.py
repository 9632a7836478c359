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

#: every changed deadline of a command in one statement: one row per SLA (arrays of arrays must be
#: rectangular in PostgreSQL, so milestones and fired travel as JSON texts)
UPSERT_MANY = f"""
INSERT INTO deadlines ({COLUMNS})
SELECT r.deadline_id, r.subject_type, r.subject_id, r.stream_id, r.branch_id, r.sla, r.policy, r.rule,
       r.counting, r.duration_seconds,
       ARRAY(SELECT jsonb_array_elements_text(r.milestones::jsonb)::double precision),
       r.started_at, r.pauses::jsonb, r.state, r.due_at,
       ARRAY(SELECT jsonb_array_elements_text(r.fired::jsonb)), r.next_fire_at, r.next_fire_kind, r.ended_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::double precision[], $11::text[], $12::timestamptz[], $13::text[], $14::text[],
            $15::timestamptz[], $16::text[], $17::timestamptz[], $18::text[], $19::timestamptz[])
     AS r({COLUMNS})
ON CONFLICT (subject_id, sla) DO UPDATE SET
    deadline_id = EXCLUDED.deadline_id, subject_type = EXCLUDED.subject_type,
    stream_id = EXCLUDED.stream_id, branch_id = EXCLUDED.branch_id, policy = EXCLUDED.policy,
    rule = EXCLUDED.rule, counting = EXCLUDED.counting, duration_seconds = EXCLUDED.duration_seconds,
    milestones = EXCLUDED.milestones, started_at = EXCLUDED.started_at, pauses = EXCLUDED.pauses,
    state = EXCLUDED.state, due_at = EXCLUDED.due_at, fired = EXCLUDED.fired,
    next_fire_at = EXCLUDED.next_fire_at, next_fire_kind = EXCLUDED.next_fire_kind,
    ended_at = EXCLUDED.ended_at, updated_at = now()
"""


def upsert_arguments(deadlines: Sequence[Deadline]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(19)]
    for d in deadlines:
        for column, value in zip(columns, row_values(d), strict=True):
            column.append(value)
    columns[10] = [_list_json(tuple(m)) for m in columns[10]]
    columns[15] = [_list_json(tuple(f)) for f in columns[15]]
    return columns


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
