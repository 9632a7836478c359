"""Complaint command handling: one CommandHandler over the complaint decider."""

from __future__ import annotations

from uuid import UUID, uuid4

from services.complaint.domain import Complaint, ReceiveComplaint, complaint_decider, stream_id
from shared.commands import CommandHandler, CommandResult, Loaded
from shared.contracts.complaint import Channel
from shared.decider import NotFound
from shared.envelope import Metadata
from shared.runner import ServiceContext


class ComplaintApp:
    def __init__(self, ctx: ServiceContext) -> None:
        self.clock = ctx.clock
        self.handler: CommandHandler[ReceiveComplaint, Complaint] = CommandHandler(
            service="complaint", store=ctx.store, decider=complaint_decider, clock=ctx.clock
        )

    async def receive(
        self,
        branch_id: str,
        *,
        channel: Channel,
        customer_ref: str,
        description: str,
        visit_id: UUID | None,
        meta: Metadata,
    ) -> CommandResult[Complaint]:
        complaint_id = uuid4()
        command = ReceiveComplaint(
            complaint_id=complaint_id,
            channel=channel,
            customer_ref=customer_ref,
            description=description,
            received_at=self.clock.now(),
            visit_id=visit_id,
        )
        return await self.handler.execute(
            stream_id(complaint_id), command, branch_id=branch_id, meta=meta, must_exist=False
        )

    async def get(self, complaint_id: UUID) -> Loaded[Complaint]:
        loaded = await self.handler.load(stream_id(complaint_id))
        if loaded.version == 0:
            raise NotFound(f"complaint {complaint_id} does not exist")
        return loaded
