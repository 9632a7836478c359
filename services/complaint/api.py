"""Complaint HTTP routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.complaint.app import ComplaintApp
from shared.contracts.complaint import Channel, CustomerRef
from shared.envelope import Metadata
from shared.http import command_metadata
from shared.runner import ServiceContext, context

router = APIRouter(tags=["complaints"])

BranchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


class ReceiveComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_ref: CustomerRef
    description: str = Field(min_length=1, max_length=4000)
    visit_id: UUID | None = None


class ComplaintCreated(BaseModel):
    complaint_id: UUID
    status: str
    version: int


class HistoryEntry(BaseModel):
    type: str
    stream_version: int
    occurred_at: datetime
    actor: str
    data: dict[str, Any]


class ComplaintView(BaseModel):
    complaint_id: UUID
    branch_id: str
    status: str
    channel: Channel | None
    customer_ref: str | None
    description: str | None
    visit_id: UUID | None
    received_at: datetime | None
    version: int
    history: list[HistoryEntry]


def complaint_app(ctx: Annotated[ServiceContext, Depends(context)]) -> ComplaintApp:
    app: ComplaintApp | None = ctx.extras.get("app")
    if app is None:
        app = ctx.extras["app"] = ComplaintApp(ctx)
    return app


App = Annotated[ComplaintApp, Depends(complaint_app)]
Meta = Annotated[Metadata, Depends(command_metadata)]


@router.post("/branches/{branch_id}/complaints", status_code=201, response_model=ComplaintCreated)
async def receive_complaint(
    branch_id: BranchId, body: ReceiveComplaintBody, app: App, meta: Meta, response: Response
) -> ComplaintCreated:
    result = await app.receive(
        branch_id,
        channel=body.channel,
        customer_ref=body.customer_ref,
        description=body.description,
        visit_id=body.visit_id,
        meta=meta,
    )
    assert result.state.complaint_id is not None
    response.headers["ETag"] = f'"{result.version}"'
    response.headers["Location"] = f"/complaints/{result.state.complaint_id}"
    return ComplaintCreated(
        complaint_id=result.state.complaint_id, status=result.state.status, version=result.version
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintView)
async def get_complaint(complaint_id: UUID, app: App, response: Response) -> ComplaintView:
    loaded = await app.get(complaint_id)
    state = loaded.state
    response.headers["ETag"] = f'"{loaded.version}"'
    return ComplaintView(
        complaint_id=complaint_id,
        branch_id=loaded.history[0].branch_id,
        status=state.status,
        channel=state.channel,
        customer_ref=state.customer_ref,
        description=state.description,
        visit_id=state.visit_id,
        received_at=state.received_at,
        version=loaded.version,
        history=[
            HistoryEntry(
                type=e.type,
                stream_version=e.stream_version,
                occurred_at=e.occurred_at,
                actor=e.actor,
                data=e.data,
            )
            for e in loaded.history
        ],
    )
