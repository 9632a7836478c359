"""One customer's follow-ups in a branch, whichever of their refs each task was opened under.

After a duplicate merge (reception's ``CustomersMerged``) the customer's tasks under the merged ref
and under the survivor are one history; after a reversal, two again. Rows keep the ref their events
named; the query joins refs through ``customer_aliases`` (``shared/customer_aliases.py``, fed on
``task_rules``), so a merge arriving before or after the tasks, or a rebuild, answers the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from shared.auth import Principal, requires
from shared.contracts.followup import TaskKind
from shared.customer_aliases import same_customer_sql
from shared.http import CustomerRefPath
from shared.runner import ServiceContext, context

router = APIRouter(tags=["follow-ups"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]

_QUERY = f"""
SELECT task_id, kind, status, due_at, customer_ref, complaint_id, scheduled_at, closed_at
FROM tasks WHERE branch_id = $2 AND customer_ref IN {same_customer_sql("$1")}
ORDER BY scheduled_at DESC, task_id LIMIT $3"""
_REFS = f"SELECT array_agg(ref ORDER BY ref) FROM {same_customer_sql('$1')} AS s(ref)"


class CustomerTask(BaseModel):
    task_id: UUID
    kind: TaskKind
    status: str
    due_at: datetime
    #: the ref the task was opened under (the survivor's or a ref merged into it)
    customer_ref: str | None
    complaint_id: UUID | None
    scheduled_at: datetime
    closed_at: datetime | None


class CustomerTasks(BaseModel):
    branch_id: str
    customer_ref: str
    #: every ref the answer covers: the customer's survivor and the refs merged into it
    refs: list[str]
    count: int
    tasks: list[CustomerTask]


@router.get("/branches/{branch_id}/customers/{customer_ref}/follow-ups", response_model=CustomerTasks)
async def customer_follow_ups(
    branch_id: BranchId,
    customer_ref: CustomerRefPath,
    ctx: Annotated[ServiceContext, Depends(context)],
    staff: Annotated[Principal, Depends(requires("followup.read"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CustomerTasks:
    """The customer's follow-up history in this branch (newest first), open and closed, under
    every ref the vault merged into one customer."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(_QUERY, customer_ref, branch_id, limit)
        refs = await conn.fetchval(
            f"SELECT array_agg(ref ORDER BY ref) FROM {same_customer_sql('$1')} s(ref)", customer_ref
        )
    tasks = [CustomerTask(**dict(r)) for r in rows]
    return CustomerTasks(
        branch_id=branch_id,
        customer_ref=customer_ref,
        refs=list(refs or [customer_ref]),
        count=len(tasks),
        tasks=tasks,
    )
