"""The walking skeleton's complaint service, kept for the benchmark: ``python -m bench.skeleton``.

The same route (and authorisation), event and topic as ``services.complaint``
(``POST /branches/{b}/complaints`` → ``ComplaintReceived`` on ``complaint.events.v1``), but
nothing else: no deadlines, no board, no reactions. The description is kept as the real service
keeps it (a private, encrypted text in the command's transaction; the event carries its
reference), so the mechanism measured includes it. Measuring it next to the real service
separates the cost of the mechanism (HTTP, store, relay, Kafka, projection) from the cost of the
complaint domain's own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Path

from bench.reference import Body, Created
from shared.auth import Principal, requires
from shared.commands import CommandHandler
from shared.contracts.complaint import Channel, ComplaintReceived
from shared.contracts.text import TextRef
from shared.decider import Decider
from shared.envelope import Metadata
from shared.http import command_metadata
from shared.registry import EventData
from shared.runner import Service, ServiceContext, context, main
from shared.texts import texts_for


@dataclass(frozen=True)
class Receive:
    complaint_id: UUID
    channel: Channel
    customer_ref: str
    description: TextRef
    at: datetime


def decide(state: int, command: Receive) -> Sequence[EventData]:
    return [
        ComplaintReceived(
            complaint_id=command.complaint_id,
            channel=command.channel,
            customer_ref=command.customer_ref,
            description=command.description,
            received_at=command.at,
        )
    ]


DECIDER: Decider[Receive, int] = Decider(0, decide, lambda state, _event: state + 1)


router = APIRouter()


@router.post("/branches/{branch_id}/complaints", status_code=201, response_model=Created)
async def receive(
    branch_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")],
    body: Body,
    ctx: Annotated[ServiceContext, Depends(context)],
    staff: Annotated[Principal, Depends(requires("complaint.create"))],
    meta: Annotated[Metadata, Depends(command_metadata)],
) -> Created:
    handler = ctx.extras.get("handler")
    if handler is None:
        handler = ctx.extras["handler"] = CommandHandler(
            service="complaint", store=ctx.store, decider=DECIDER, clock=ctx.clock
        )
    complaint_id = uuid4()
    texts = texts_for(ctx).batch()
    description = texts.require(body.description)
    command = Receive(complaint_id, body.channel, body.customer_ref, description, ctx.clock.now())
    result = await handler.execute(
        f"complaint-{complaint_id}", command, branch_id=branch_id, meta=meta, must_exist=False, texts=texts
    )
    return Created(complaint_id=complaint_id, version=result.version)


SERVICE = Service(
    name="complaint", routers=[router], description="benchmark skeleton of the complaint service"
)

if __name__ == "__main__":
    main(SERVICE)
