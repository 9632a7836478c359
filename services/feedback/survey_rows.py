"""A survey's ``survey_facts`` row and a new survey's ``survey_dispatch`` row, written with each
change of its stream (``FeedbackApp._after_change``).

Two forms of each write. A command on one survey (an answer, a send, the clock) writes its rows as
parameters. A consumer batch's reactions (``shared.reactions``: the surveys of a batch of served
visits or closed complaints) write one row per survey the batch changed: there each row is a JSON
array of one object, which the batch's flush joins with the other surveys' into ONE part of its
append statement (``reactions.json_rows``), instead of one execution per survey (issue 19). The
batch changes each survey's stream once, so no two of its rows are one survey's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
from pydantic_core import to_json

from services.feedback.domain import Survey
from shared import db_batch, reactions

_FACTS_COLUMNS = """survey_id, branch_id, subject, subject_type, service_type, staff_id, customer_ref,
    channel, status, requested_at, local_day, expires_at, sent_at, answered_at, score, negative,
    expired_at, version, comment_ref, reasons, describes_complaint, attempts, delivery_failure, retry_at,
    given_up_at, delivered_at"""

_FACTS_ON_CONFLICT = """ON CONFLICT (survey_id) DO UPDATE SET status = EXCLUDED.status,
    sent_at = EXCLUDED.sent_at, answered_at = EXCLUDED.answered_at,
    score = EXCLUDED.score, negative = EXCLUDED.negative,
    expired_at = EXCLUDED.expired_at, version = EXCLUDED.version,
    comment_ref = EXCLUDED.comment_ref, reasons = EXCLUDED.reasons,
    describes_complaint = EXCLUDED.describes_complaint, attempts = EXCLUDED.attempts,
    delivery_failure = EXCLUDED.delivery_failure, retry_at = EXCLUDED.retry_at,
    given_up_at = EXCLUDED.given_up_at, delivered_at = EXCLUDED.delivered_at"""

#: one survey's facts as parameters
UPSERT_FACTS = f"""INSERT INTO survey_facts ({_FACTS_COLUMNS})
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19::jsonb,$20,$21,
        $22,$23,$24,$25,$26)
{_FACTS_ON_CONFLICT}"""

#: the columns of an :data:`UPSERT_FACTS_ROWS` object and the types they are read as (the comment's
#: reference travels as a JSON value, the reasons as an array)
_FACTS_RECORD = """survey_id uuid, branch_id text, subject text, subject_type text, service_type text,
    staff_id text, customer_ref text, channel text, status text, requested_at timestamptz, local_day date,
    expires_at timestamptz, sent_at timestamptz, answered_at timestamptz, score smallint, negative boolean,
    expired_at timestamptz, version int, comment_ref jsonb, reasons text[], describes_complaint boolean,
    attempts int, delivery_failure text, retry_at timestamptz, given_up_at timestamptz,
    delivered_at timestamptz"""
_FACTS_NAMES = tuple(c.split()[0] for c in _FACTS_RECORD.split(","))
assert _FACTS_NAMES == tuple(c.strip() for c in _FACTS_COLUMNS.split(",")), (
    "the record's columns are the table's"
)

#: surveys' facts from ONE parameter, a JSON array of objects (``shared.reactions.json_rows``)
UPSERT_FACTS_ROWS = f"""INSERT INTO survey_facts ({_FACTS_COLUMNS})
SELECT {", ".join(f"r.{n}" for n in _FACTS_NAMES)}
FROM json_to_recordset($1::json) AS r({_FACTS_RECORD})
{_FACTS_ON_CONFLICT}"""

#: a new survey's place in the dispatch queue
INSERT_DISPATCH = """INSERT INTO survey_dispatch (survey_id, branch_id, next_attempt_at)
VALUES ($1, $2, $3) ON CONFLICT (survey_id) DO NOTHING"""

#: :data:`INSERT_DISPATCH` from ONE parameter, a JSON array of objects
INSERT_DISPATCH_ROWS = """INSERT INTO survey_dispatch (survey_id, branch_id, next_attempt_at)
SELECT r.survey_id, r.branch_id, r.next_attempt_at
FROM json_to_recordset($1::json) AS r(survey_id uuid, branch_id text, next_attempt_at timestamptz)
ON CONFLICT (survey_id) DO NOTHING"""


def _facts(s: Survey, branch_id: str, version: int, local_day: date, comment: Any) -> tuple[Any, ...]:
    """The facts row's values in :data:`_FACTS_COLUMNS`' order, the comment's reference as the
    form wants it."""
    assert s.channel is not None
    return (
        s.survey_id,
        branch_id,
        s.subject,
        s.subject_type,
        s.service_type,
        s.staff_id,
        s.customer_ref,
        s.channel.value,
        s.status.value,
        s.requested_at,
        local_day,
        s.expires_at,
        s.sent_at,
        s.answered_at,
        s.score,
        s.negative,
        s.expired_at,
        version,
        comment,
        list(s.reasons),
        s.describes_complaint,
        s.attempts,
        s.failure.value if s.failure else None,
        s.retry_at,
        s.given_up_at,
        s.delivered_at,
    )


async def upsert_facts(
    conn: asyncpg.Connection, s: Survey, branch_id: str, version: int, local_day: date
) -> None:
    """Queue (``shared.db_batch``) the survey's facts row: as a JSON row inside a consumer batch's
    reactions, else as parameters (the comment's reference only, as a JSON text)."""
    if reactions.pending(conn) is not None:
        comment = s.comment.model_dump(mode="json") if s.comment is not None else None
        row = dict(zip(_FACTS_NAMES, _facts(s, branch_id, version, local_day, comment), strict=True))
        await db_batch.write(conn, UPSERT_FACTS_ROWS, to_json([row]).decode())
        return
    comment_json = s.comment.model_dump_json() if s.comment is not None else None
    await db_batch.write(conn, UPSERT_FACTS, *_facts(s, branch_id, version, local_day, comment_json))


async def insert_dispatch(conn: asyncpg.Connection, s: Survey, branch_id: str) -> None:
    """Queue a new survey's dispatch row (a JSON row inside a consumer batch's reactions)."""
    assert s.requested_at is not None
    if reactions.pending(conn) is not None:
        row = {"survey_id": s.survey_id, "branch_id": branch_id, "next_attempt_at": s.requested_at}
        await db_batch.write(conn, INSERT_DISPATCH_ROWS, to_json([row]).decode())
        return
    await db_batch.write(conn, INSERT_DISPATCH, s.survey_id, branch_id, s.requested_at)
