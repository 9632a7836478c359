"""The phone-call decider: received → answered → purpose → routed or resolved → ended. Pure.

The answer SLA has two faces: the clock (``reception.phone_answer``, about 15 s, fired by the
shared scheduler while the phone still rings) and the ring count reported at answer time (at most
``max_rings``, default 3). A call answered after too many rings before the clock fired gets its
``SlaBreached`` from here, built by the application from the call's deadline; either way a call
breaches at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from services.reception.decider.state import sla_after
from shared import by_name
from shared.by_name import absorb
from shared.contracts.reception import (
    CallAnswered,
    CallEnded,
    CallOutcome,
    CallPurposeRecorded,
    CallReceived,
    CallResolved,
    CallRouted,
    ServiceType,
)
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.contracts.text import TextRef
from shared.decider import Decider, DomainError
from shared.registry import EventData

E = TypeVar("E", bound=EventData)


class CallStatus(StrEnum):
    none = "none"
    ringing = "ringing"
    answered = "answered"
    routed = "routed"
    resolved = "resolved"
    ended = "ended"


@dataclass(frozen=True)
class PhoneCall:
    status: CallStatus = CallStatus.none
    call_id: UUID | None = None
    customer_ref: str | None = None
    masked_number: str | None = None
    received_at: datetime | None = None
    answered_at: datetime | None = None
    staff_id: str | None = None
    rings: int | None = None
    seconds_to_answer: float | None = None
    within_target: bool | None = None
    purpose: ServiceType | None = None
    routed_to: str | None = None
    outcome: CallOutcome | None = None
    ended_at: datetime | None = None
    sla_status: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallStep:
    """When a step on the call happened. Call commands are built by keyword only: fields of one
    type (the rings and the most rings allowed) cannot swap by position."""

    at: datetime


@dataclass(frozen=True, kw_only=True)
class HandlingStep(CallStep):
    """A step handling an answered call (its purpose, where it went, how it ended), with staff's
    notes."""

    notes: TextRef | None = None


@dataclass(frozen=True, kw_only=True)
class ReceiveCall(CallStep):
    call_id: UUID
    customer_ref: str | None = None
    masked_number: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerCall(CallStep):
    staff_id: str
    rings: int
    max_rings: int
    seconds_to_answer: float | None = None
    #: the breach to record if the rings exceed ``max_rings`` and the clock has not fired yet
    ring_breach: SlaBreached | None = None


@dataclass(frozen=True, kw_only=True)
class RecordPurpose(HandlingStep):
    purpose: ServiceType


@dataclass(frozen=True, kw_only=True)
class RouteCall(HandlingStep):
    routed_to: str


@dataclass(frozen=True, kw_only=True)
class ResolveCall(HandlingStep):
    """The customer's matter was settled on the call."""


@dataclass(frozen=True, kw_only=True)
class EndCall(HandlingStep):
    """Ends the call; may record the purpose and the outcome in the same step."""

    purpose: ServiceType | None = None
    outcome: CallOutcome | None = None
    routed_to: str | None = None


@dataclass(frozen=True)
class RecordCallSla:
    event: SlaAtRisk | SlaBreached


CallCommand = ReceiveCall | AnswerCall | RecordPurpose | RouteCall | ResolveCall | EndCall | RecordCallSla


def decide(state: PhoneCall, command: CallCommand) -> Sequence[EventData]:
    if state.status is CallStatus.none and not isinstance(command, ReceiveCall):
        raise DomainError("the call was not received")
    if state.status is CallStatus.ended and not isinstance(command, RecordCallSla):
        raise DomainError(f"the call has ended ({state.outcome})")
    match command:
        case ReceiveCall():
            if state.status is not CallStatus.none:
                raise DomainError("the call was already received")
            return [record(CallReceived, state, command)]
        case AnswerCall():
            return _answer(state, command)
        case RecordPurpose():
            _require(state, CallStatus.answered, "record the purpose")
            return [record(CallPurposeRecorded, state, command)]
        case RouteCall():
            _require(state, CallStatus.answered, "route the call")
            _require_purpose(state)
            return [record(CallRouted, state, command)]
        case ResolveCall():
            _require(state, CallStatus.answered, "resolve the call")
            _require_purpose(state)
            return [record(CallResolved, state, command)]
        case EndCall():
            return _end(state, command)
        case RecordCallSla():
            return [command.event] if state.status is CallStatus.ringing else []
    raise DomainError(f"unknown command {type(command).__name__}")


def _answer(state: PhoneCall, command: AnswerCall) -> list[EventData]:
    if state.status is not CallStatus.ringing:
        raise DomainError(f"the call was already answered (call is {state.status})")
    assert state.received_at is not None
    if command.at < state.received_at:
        raise DomainError("a call cannot be answered before it was received")
    seconds = command.seconds_to_answer
    if seconds is None:
        seconds = (command.at - state.received_at).total_seconds()
    too_many_rings = command.rings > command.max_rings
    breached_by_clock = state.sla_status == "breached"
    within_target = not too_many_rings and not breached_by_clock
    answered = record(CallAnswered, state, command, seconds_to_answer=seconds, within_target=within_target)
    events: list[EventData] = [answered]
    if too_many_rings and not breached_by_clock and command.ring_breach is not None:
        events.append(command.ring_breach)
    return events


def _end(state: PhoneCall, command: EndCall) -> list[EventData]:
    assert state.received_at is not None
    duration = max((command.at - state.received_at).total_seconds(), 0.0)
    if state.status is CallStatus.ringing:
        if command.outcome not in (None, CallOutcome.missed) or command.purpose is not None:
            raise DomainError("an unanswered call can only end as missed")
        return [record(CallEnded, state, command, outcome=CallOutcome.missed, duration_seconds=duration)]
    if command.outcome is CallOutcome.missed:
        raise DomainError("an answered call is not missed")
    events: list[EventData] = []
    current = state
    if command.purpose is not None and command.purpose is not state.purpose:
        if state.status is not CallStatus.answered:
            raise DomainError(f"the purpose cannot change once the call is {state.status}")
        notes = None if command.outcome else command.notes
        purpose = record(CallPurposeRecorded, state, command, notes=notes)
        events.append(purpose)
        current = evolve(current, purpose)
    outcome = command.outcome
    if outcome is not None and current.status is not CallStatus.answered:
        if outcome.value != current.status.value:
            raise DomainError(f"the call was already {current.status}")
        outcome = None
    if outcome is CallOutcome.routed:
        if not command.routed_to:
            raise DomainError("say where the call was routed (routed_to)")
        _require_purpose(current)
        events.append(record(CallRouted, state, command))
    elif outcome is CallOutcome.resolved:
        _require_purpose(current)
        events.append(record(CallResolved, state, command))
    final = {
        CallStatus.routed: CallOutcome.routed,
        CallStatus.resolved: CallOutcome.resolved,
    }.get(current.status, outcome or CallOutcome.unresolved)
    events.append(record(CallEnded, state, command, outcome=final, duration_seconds=duration))
    return events


def record(event: type[E], state: PhoneCall, command: object, **decided: Any) -> E:
    """``event`` of this call: its id, each field the command has by the same name, and what the
    step decided."""
    return by_name.record(event, command, {"call_id": state.call_id}, **decided)


def _require(state: PhoneCall, status: CallStatus, action: str) -> None:
    if state.status is CallStatus.ringing:
        raise DomainError(f"answer the call before you {action}")
    if state.status is not status:
        raise DomainError(f"cannot {action}: the call is already {state.status}")


def _require_purpose(state: PhoneCall) -> None:
    if state.purpose is None:
        raise DomainError("record the purpose of the call first")


def evolve(state: PhoneCall, event: EventData) -> PhoneCall:
    match event:
        case CallReceived():
            return absorb(
                state, event, status=CallStatus.ringing, received_at=event.at, sla_status="on_track"
            )
        case CallAnswered():
            return absorb(state, event, status=CallStatus.answered, answered_at=event.at)
        case CallPurposeRecorded():
            return replace(state, purpose=event.purpose)
        case CallRouted():
            return absorb(state, event, status=CallStatus.routed)
        case CallResolved():
            return replace(state, status=CallStatus.resolved)
        case CallEnded():
            return absorb(state, event, status=CallStatus.ended, ended_at=event.at)
        case SlaAtRisk() | SlaBreached():
            return replace(state, sla_status=sla_after(state.sla_status, event))
    return state


def _id(state: PhoneCall) -> UUID:
    assert state.call_id is not None
    return state.call_id


call_decider: Decider[CallCommand, PhoneCall] = Decider(PhoneCall(), decide, evolve)


def stream_id(call_id: UUID) -> str:
    return f"call-{call_id}"
