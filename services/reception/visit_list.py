"""The branch's visits as a list: what every terminal of the branch shows (``GET /branches/{b}/visits``).

One read of the ``visits`` read model (written in each command's own transaction, so a visit
registered at the entrance is listed at the counter the moment the command returns). Newest
arrival first, keyset-paginated on ``(arrived_at, visit_id)`` so a page never repeats or skips a
visit while others arrive. Without ``since`` the list is the branch's local day (today unless
``day`` says otherwise); with ``since`` it is every visit that arrived from then on.

Each visit carries its *stage*, the coarse step a lobby manager talks about (greeted, guided,
documents, waiting, being served …); the lobby board counts the same stages.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from services.reception.decider import Status
from shared.by_name import record

#: visit status → stage shown to staff (several statuses read the same at a glance)
STAGE_OF: dict[str, str] = {
    Status.arrived: "arrived",
    Status.greeted: "greeted",
    Status.need_confirmed: "greeted",
    Status.guided: "guided",
    Status.documents_incomplete: "documents",
    Status.documents_complete: "documents",
    Status.away: "documents",
    Status.queued: "waiting",
    Status.called: "being_served",
    Status.served: "served",
    Status.left: "left",
}
#: stages between the greeting and the ticket or at the counter: the board's "in progress"
IN_PROGRESS = ("greeted", "guided", "documents", "being_served")
MAX_PAGE = 200


class BadCursor(ValueError):
    """The ``after`` cursor is not one this service handed out."""


class VisitSummary(BaseModel):
    visit_id: UUID
    status: str
    stage: str
    arrival: str
    display_name: str | None
    customer_ref: str | None
    priority: str | None
    accessibility: list[str]
    service_type: str | None
    line: str | None
    ticket: str | None
    arrived_at: datetime
    queued_at: datetime | None
    calls: int
    counter_id: str | None
    staff_id: str | None
    served_at: datetime | None
    left_at: datetime | None
    left_reason: str | None
    wait_sla: str | None
    complaints: int
    version: int


class VisitPage(BaseModel):
    branch_id: str
    #: the branch-local day listed (None when ``since`` chose the range)
    day: date | None
    items: list[VisitSummary]
    #: pass as ``after`` for the next (older) page; None on the last page
    next_cursor: str | None


def encode_cursor(arrived_at: datetime, visit_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{arrived_at.isoformat()}|{visit_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, _, vid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, UUID(vid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("after is not a cursor this list handed out (use next_cursor as given)") from None


async def list_visits(
    conn: asyncpg.Connection,
    branch_id: str,
    *,
    day: date | None,
    since: datetime | None,
    statuses: list[str],
    line: str | None,
    counter: str | None,
    limit: int,
    after: str | None,
) -> VisitPage:
    clauses = ["branch_id = $1"]
    args: list[Any] = [branch_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if since is not None:
        clauses.append(f"arrived_at >= {arg(since)}")
    elif day is not None:
        clauses.append(f"day = {arg(day)}")
    if statuses:
        clauses.append(f"status = ANY({arg(statuses)}::text[])")
    if line is not None:
        clauses.append(f"line = {arg(line)}")
    if counter is not None:
        clauses.append(f"counter_id = {arg(counter)}")
    if after is not None:
        at, vid = decode_cursor(after)
        clauses.append(f"(arrived_at, visit_id) < ({arg(at)}, {arg(vid)})")
    rows = await conn.fetch(
        f"""SELECT * FROM visits WHERE {" AND ".join(clauses)}
            ORDER BY arrived_at DESC, visit_id DESC LIMIT {arg(min(limit, MAX_PAGE) + 1)}""",
        *args,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_summary(r) for r in rows]
    cursor = encode_cursor(rows[-1]["arrived_at"], rows[-1]["visit_id"]) if more and rows else None
    return VisitPage(branch_id=branch_id, day=None if since else day, items=items, next_cursor=cursor)


def _summary(r: asyncpg.Record) -> VisitSummary:
    """The row's columns by name (``shared.by_name``), and what the summary names otherwise."""
    shown = {"stage": STAGE_OF.get(r["status"], r["status"]), "wait_sla": r["sla_status"]}
    return record(VisitSummary, shown, dict(r))


async def in_progress(conn: asyncpg.Connection, branch_id: str, now: datetime) -> dict[str, Any]:
    """The lobby board's in-progress stages: how many customers are being greeted, guided,
    having their documents checked or served at a counter, and who (no names: the board may be on
    a public screen; tickets and counters only)."""
    rows = await conn.fetch(
        """SELECT visit_id, status, service_type, ticket, counter_id, arrived_at, last_called_at
           FROM visits WHERE branch_id = $1 AND status = ANY($2::text[])
           ORDER BY arrived_at, visit_id""",
        branch_id,
        [s for s, stage in STAGE_OF.items() if stage in IN_PROGRESS],
    )
    people = [
        {
            "visit_id": r["visit_id"],
            "stage": STAGE_OF[r["status"]],
            "status": r["status"],
            "service_type": r["service_type"],
            "ticket": r["ticket"],
            "counter_id": r["counter_id"] if r["status"] == Status.called else None,
            "seconds_in_branch": max(round((now - r["arrived_at"]).total_seconds()), 0),
        }
        for r in rows
    ]
    counts = {stage: sum(1 for p in people if p["stage"] == stage) for stage in IN_PROGRESS}
    return {"counts": counts, "visits": people}
