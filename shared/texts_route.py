"""``GET /texts/{text_id}``: the one HTTP route every service with private texts serves.

It lets the console show a text another context owns (a complaint opened from a visit keeps
reception's ref for its description); each read is audited as a PII read in the transaction that
reads it. The texts themselves: :mod:`shared.texts`.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request

from shared.audit import AuditEntry, record
from shared.auth import Principal, requires_on
from shared.runner import ServiceContext, context
from shared.texts import TextView, texts_for

__all__ = ["texts_router"]


async def _text_branch(text_id: UUID, ctx: Annotated[ServiceContext, Depends(context)]) -> str | None:
    """The text's branch, checked before the route runs (``requires_on``)."""
    async with ctx.pool.acquire() as conn:
        branch: str | None = await conn.fetchval(
            "SELECT branch_id FROM private_texts WHERE text_id = $1", text_id
        )
    return branch


Reader = Annotated[Principal, Depends(requires_on("text.read", _text_branch))]


def texts_router() -> APIRouter:
    """``GET /texts/{text_id}``: one text of this service for staff of its branch, audited as a
    PII read (``kind = text.read``) in the same transaction that reads it."""
    router = APIRouter(tags=["texts"])

    @router.get("/texts/{text_id}", response_model=TextView)
    async def read_text(
        text_id: UUID,
        request: Request,
        staff: Reader,
        ctx: Annotated[ServiceContext, Depends(context)],
    ) -> TextView:
        """A free text this service keeps (masked numbers), for staff of the text's branch;
        ``status: erased`` once the customer it is about was erased. Every read is audited."""
        texts = texts_for(ctx)
        async with ctx.pool.acquire() as conn, conn.transaction():
            found = (await texts.resolve(conn, [text_id])).get(text_id)
            if found is None:
                raise HTTPException(404, f"no text {text_id} in {texts.context}")
            staff.check_branch(found.branch_id)
            await record(
                conn,
                AuditEntry(
                    at=ctx.clock.now(),
                    service=ctx.name,
                    kind="text.read",
                    staff_id=staff.staff_id,
                    action="text.read",
                    method="GET",
                    route="/texts/{text_id}",
                    resource_id=str(text_id),
                    branch_id=found.branch_id,
                    status=200,
                    correlation_id=_correlation(request),
                ),
            )
        return TextView(
            context=texts.context,
            text_id=text_id,
            length=found.length,
            status="erased" if found.erased else "shown",
            text=found.text,
        )

    return router


def _correlation(request: Request) -> UUID | None:
    value = request.headers.get("x-correlation-id")
    try:
        return UUID(value) if value else None
    except ValueError:
        return None
