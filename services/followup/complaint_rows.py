"""Follow-up's ``complaints`` rows: what the task rules know of each complaint (open or closed,
whom to contact, on hold). Written by the rules (``subscribers.py``) and, table writes only, by the
restore drill's rebuild from the restored complaint store (``shared/readmodels/kafka_fed.py``).

Inside a consumer batch's reactions the writes are queued (``shared.reactions.write``) and sent
with the batch's others, in order; elsewhere they run at once."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from pydantic_core import to_json

from shared import reactions
from shared.contracts.complaint import HoldKind
from shared.envelope import Envelope

_SET_COMPLAINT_ON_CONFLICT = """ON CONFLICT (complaint_id) DO UPDATE SET status = EXCLUDED.status,
    customer_ref = coalesce(EXCLUDED.customer_ref, complaints.customer_ref),
    updated_at = EXCLUDED.updated_at"""

_SET_COMPLAINT = f"""INSERT INTO complaints (complaint_id, branch_id, customer_ref, status, updated_at)
VALUES ($1, $2, $3, $4, $5)
{_SET_COMPLAINT_ON_CONFLICT}"""

#: :data:`_SET_COMPLAINT` with its rows from one JSON array (``reactions.json_rows``): a batch's new
#: complaints' rows go as one part of its append statement, not one execution each
_SET_COMPLAINTS = f"""INSERT INTO complaints (complaint_id, branch_id, customer_ref, status, updated_at)
SELECT r.complaint_id, r.branch_id, r.customer_ref, r.status, r.updated_at
FROM json_to_recordset($1::json)
     AS r(complaint_id uuid, branch_id text, customer_ref text, status text, updated_at timestamptz)
{_SET_COMPLAINT_ON_CONFLICT}"""


async def set_complaint(
    conn: asyncpg.Connection,
    env: Envelope,
    complaint_id: UUID,
    status: str,
    customer_ref: str | None = None,
    *,
    first: bool = False,
) -> None:
    """``first``: the complaint's first event (its receipt), whose row no other write of the batch
    touches before a read flushes it (every later reaction to the complaint reads or locks the row
    first): it goes with the batch's append as part of one statement (``reactions.write_alongside``),
    not as a statement ahead of it; one round trip less per new complaint (issue 19). As a JSON row:
    the batch's receipts' rows are one part of that statement (a complaint is received once)."""
    if first:
        row = {
            "complaint_id": complaint_id,
            "branch_id": env.branch_id,
            "customer_ref": customer_ref,
            "status": status,
            "updated_at": env.occurred_at,
        }
        await reactions.write_alongside(conn, _SET_COMPLAINTS, to_json([row]).decode())
        return
    args = (complaint_id, env.branch_id, customer_ref, status, env.occurred_at)
    await reactions.write(conn, _SET_COMPLAINT, *args)


async def set_hold(conn: asyncpg.Connection, complaint_id: UUID, kind: HoldKind | None) -> None:
    await reactions.write(
        conn,
        "UPDATE complaints SET hold_kind = $2 WHERE complaint_id = $1",
        complaint_id,
        None if kind is None else kind.value,
    )


async def set_closed(conn: asyncpg.Connection, env: Envelope, complaint_id: UUID) -> None:
    """:func:`set_complaint` ``closed`` and :func:`set_hold` None as ONE write: a close reaction
    sends one statement for the row, not two (issue 19)."""
    await reactions.write(
        conn,
        """INSERT INTO complaints (complaint_id, branch_id, status, updated_at, hold_kind)
           VALUES ($1, $2, 'closed', $3, NULL)
           ON CONFLICT (complaint_id) DO UPDATE SET status = 'closed', hold_kind = NULL,
               updated_at = EXCLUDED.updated_at""",
        complaint_id,
        env.branch_id,
        env.occurred_at,
    )
