"""A survey's ``survey_facts`` row and a new survey's ``survey_dispatch`` row, written with each
change of its stream (``FeedbackApp._after_change``).

Each row goes as a JSON array of one object, whoever writes it: a command on one survey (an
answer, a send, the clock) sends it as one statement's one parameter; in a consumer batch's
reactions (``shared.reactions``: the surveys of a batch of served visits or closed complaints) the
flush joins the rows of every survey the batch changed into ONE part of its append statement
(``reactions.json_rows``), instead of one execution per survey (issue 19). The batch changes each
survey's stream once, so no two of its rows are one survey's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
from pydantic_core import to_json

from services.feedback.domain import Survey
from shared import db_batch

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

#: new surveys' places in the dispatch queue, from ONE parameter, a JSON array of objects
INSERT_DISPATCH_ROWS = """INSERT INTO survey_dispatch (survey_id, branch_id, next_attempt_at)
SELECT r.survey_id, r.branch_id, r.next_attempt_at
FROM json_to_recordset($1::json) AS r(survey_id uuid, branch_id text, next_attempt_at timestamptz)
ON CONFLICT (survey_id) DO NOTHING"""


def _facts(s: Survey, branch_id: str, version: int, local_day: date) -> tuple[Any, ...]:
    """The facts row's values in :data:`_FACTS_COLUMNS`' order (the comment's reference as a JSON
    value)."""
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
        s.comment.model_dump(mode="json") if s.comment is not None else None,
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
    """Queue (``shared.db_batch``) the survey's facts row, a JSON row (joined with the batch's
    others inside a consumer batch's reactions)."""
    row = dict(zip(_FACTS_NAMES, _facts(s, branch_id, version, local_day), strict=True))
    await db_batch.write(conn, UPSERT_FACTS_ROWS, to_json([row]).decode())


async def insert_dispatch(conn: asyncpg.Connection, s: Survey, branch_id: str) -> None:
    """Queue a new survey's dispatch row, a JSON row (as the facts)."""
    assert s.requested_at is not None
    row = {"survey_id": s.survey_id, "branch_id": branch_id, "next_attempt_at": s.requested_at}
    await db_batch.write(conn, INSERT_DISPATCH_ROWS, to_json([row]).decode())
