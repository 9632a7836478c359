"""The counter decider: a counter (window) opens, pauses with a reason, resumes and closes. Pure.

closed ─open→ open ─pause(reason)→ paused ─resume→ open ─close→ closed      (paused ─close→ closed)

Only an open counter calls customers and counts in the wait estimate. Rules a bank's staff expect:

- **Calling from a closed counter opens it** (``CounterOpened`` with ``implicit: true``, in the
  call's own transaction). Terminals and scripts written before counters could be opened keep
  working, and a teller who simply starts calling is, in fact, at the counter. A *paused* counter
  refuses calls: the pause was declared with a reason, so it is ended on purpose (``resume``).
- A counter with a customer at it (called, not yet served or gone) can neither pause nor close:
  serve that customer, or record that they left, first. The customer is never dropped silently.
- Opening an open counter, resuming one that is not paused, closing a closed one: 409 with the
  reason (a double click shows the state, it changes nothing).
- A counter is open for a business day: one left open overnight is not counted the next day
  until it opens again — ``open`` is then allowed, and a call opens it implicitly (same lines).

The application layer looks up whether the counter is busy (the ``counters`` read model, locked in
the command's transaction) and hands the ticket in with the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from shared import by_name
from shared.by_name import replace
from shared.contracts.reception import (
    CounterClosed,
    CounterOpened,
    CounterPaused,
    CounterPauseReason,
    CounterResumed,
)
from shared.decider import Decider, DomainError
from shared.registry import EventData

E = TypeVar("E", bound=EventData)


class CounterStatus(StrEnum):
    closed = "closed"
    open = "open"
    paused = "paused"


@dataclass(frozen=True)
class Counter:
    status: CounterStatus = CounterStatus.closed
    counter_id: str | None = None
    staff_id: str | None = None
    lines: tuple[str, ...] = ()
    pause_reason: CounterPauseReason | None = None
    #: when the current status began
    since: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AtCounter:
    """Who acts at which counter, and when: the fields of every counter command, and of every
    counter event (:meth:`record` copies the command's fields into the event it decides). Counter
    commands are built by keyword only: the counter and the staff id cannot swap by position."""

    counter_id: str
    staff_id: str
    at: datetime

    def record(self, event: type[E], **decided: Any) -> E:
        """``event`` with each of its fields this command has by the same name, and ``decided``."""
        return by_name.record(event, self, **decided)


@dataclass(frozen=True, kw_only=True)
class OpenCounter(AtCounter):
    lines: tuple[str, ...] = ()
    #: the start of the branch's business day: a counter left open since before it opens anew
    day_start: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PauseCounter(AtCounter):
    reason: CounterPauseReason
    #: the ticket of the customer at the counter now, if any
    busy_with: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResumeCounter(AtCounter):
    """The pause ends: the counter is open again."""


@dataclass(frozen=True, kw_only=True)
class CloseCounter(AtCounter):
    busy_with: str | None = None


@dataclass(frozen=True, kw_only=True)
class BeforeCall(AtCounter):
    """A call is about to be made from this counter (by ``call`` or ``call-next``)."""

    day_start: datetime | None = None


def left_open(state: Counter, day_start: datetime | None) -> bool:
    """Open since before today: left open overnight (nobody closed it). Today it counts only once
    opened again, explicitly or by a call."""
    return (
        state.status is CounterStatus.open
        and day_start is not None
        and state.since is not None
        and state.since < day_start
    )


CounterCommand = OpenCounter | PauseCounter | ResumeCounter | CloseCounter | BeforeCall


def decide(state: Counter, command: CounterCommand) -> Sequence[EventData]:
    name = f"counter {command.counter_id}"
    match command:
        case OpenCounter():
            if state.status is CounterStatus.open and not left_open(state, command.day_start):
                raise DomainError(f"{name} is already open")
            if state.status is CounterStatus.paused:
                raise DomainError(f"{name} is paused ({state.pause_reason}): resume it instead")
            return [_opened(command, command.lines, implicit=False)]
        case PauseCounter():
            if state.status is CounterStatus.paused:
                raise DomainError(f"{name} is already paused ({state.pause_reason})")
            if state.status is not CounterStatus.open:
                raise DomainError(f"{name} is not open: nothing to pause")
            _not_busy(name, command.busy_with, "pausing")
            return [command.record(CounterPaused)]
        case ResumeCounter():
            if state.status is not CounterStatus.paused:
                raise DomainError(f"{name} is not paused (it is {state.status})")
            paused = (command.at - state.since).total_seconds() if state.since else 0.0
            return [command.record(CounterResumed, paused_seconds=max(paused, 0.0))]
        case CloseCounter():
            if state.status is CounterStatus.closed:
                raise DomainError(f"{name} is already closed")
            _not_busy(name, command.busy_with, "closing")
            return [command.record(CounterClosed)]
        case BeforeCall():
            if state.status is CounterStatus.paused:
                raise DomainError(f"{name} is paused ({state.pause_reason}): resume it before calling")
            if state.status is CounterStatus.closed:
                return [_opened(command, (), implicit=True)]
            if left_open(state, command.day_start):  # a new day: it opens again, for today
                return [_opened(command, state.lines, implicit=True)]
            return []
    raise DomainError(f"unknown command {type(command).__name__}")


def _not_busy(name: str, ticket: str | None, doing: str) -> None:
    if ticket is not None:
        raise DomainError(
            f"{name} is busy with ticket {ticket}: serve that customer (or record that they left) "
            f"before {doing} it"
        )


def _opened(command: OpenCounter | BeforeCall, lines: tuple[str, ...], *, implicit: bool) -> CounterOpened:
    return command.record(CounterOpened, lines=list(dict.fromkeys(lines)), implicit=implicit)


def evolve(state: Counter, event: EventData) -> Counter:
    match event:
        case CounterOpened():
            return by_name.absorb(Counter(), event, status=CounterStatus.open, since=event.at)
        case CounterPaused() | CounterResumed():
            reason = event.reason if isinstance(event, CounterPaused) else None
            status = CounterStatus.open if reason is None else CounterStatus.paused
            return replace(state, status=status, pause_reason=reason, staff_id=event.staff_id, since=event.at)
        case CounterClosed():
            return replace(state, status=CounterStatus.closed, pause_reason=None, since=event.at)
    return state


counter_decider: Decider[CounterCommand, Counter] = Decider(Counter(), decide, evolve)


def stream_id(branch_id: str, counter_id: str) -> str:
    """One stream per counter of a branch (``:`` appears in neither id)."""
    return f"counter:{branch_id}:{counter_id}"
