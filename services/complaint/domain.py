"""The complaint case decider: pure, no I/O; time arrives inside commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts.complaint import Channel, ComplaintReceived
from shared.decider import Decider, DomainError
from shared.registry import EventData


class Status(StrEnum):
    none = "none"
    received = "received"


@dataclass(frozen=True)
class Complaint:
    status: Status = Status.none
    complaint_id: UUID | None = None
    channel: Channel | None = None
    customer_ref: str | None = None
    description: str | None = None
    visit_id: UUID | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class ReceiveComplaint:
    complaint_id: UUID
    channel: Channel
    customer_ref: str
    description: str
    received_at: datetime
    visit_id: UUID | None = None


Command = ReceiveComplaint


def decide(state: Complaint, command: Command) -> Sequence[EventData]:
    match command:
        case ReceiveComplaint():
            if state.status is not Status.none:
                raise DomainError(f"complaint {command.complaint_id} was already received")
            return [
                ComplaintReceived(
                    complaint_id=command.complaint_id,
                    channel=command.channel,
                    customer_ref=command.customer_ref,
                    description=command.description,
                    visit_id=command.visit_id,
                    received_at=command.received_at,
                )
            ]
    raise DomainError(f"unknown command {type(command).__name__}")


def evolve(state: Complaint, event: EventData) -> Complaint:
    match event:
        case ComplaintReceived():
            return replace(
                state,
                status=Status.received,
                complaint_id=event.complaint_id,
                channel=event.channel,
                customer_ref=event.customer_ref,
                description=event.description,
                visit_id=event.visit_id,
                received_at=event.received_at,
            )
    return state


complaint_decider: Decider[Command, Complaint] = Decider(Complaint(), decide, evolve)


def stream_id(complaint_id: UUID) -> str:
    return f"complaint-{complaint_id}"
