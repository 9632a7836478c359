"""HQ HTTP routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from shared.runner import ServiceContext, context

router = APIRouter(tags=["hq"])


class BranchSummary(BaseModel):
    branch_id: str
    complaints_received: int
    last_event_at: datetime | None


@router.get("/hq/branches/{branch_id}", response_model=BranchSummary)
async def branch_summary(
    branch_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")],
    ctx: Annotated[ServiceContext, Depends(context)],
) -> BranchSummary:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT complaints_received, last_event_at FROM branch_complaints WHERE branch_id = $1",
            branch_id,
        )
    if row is None:
        return BranchSummary(branch_id=branch_id, complaints_received=0, last_event_at=None)
    return BranchSummary(branch_id=branch_id, **dict(row))
