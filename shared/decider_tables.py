"""A decider as two tables: command type → step (``decide``), event type → evolution (``evolve``).

A decider's ``decide`` is the same three lines in every service: check what every command needs
(a started stream, an open task …), look up the command's step, refuse an unknown command.
:func:`decide_by` is those lines once; a service gives its table and its guard. Its ``evolve``
is one small function per event type, registered with :meth:`Evolutions.on`; an event with no
function changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from shared.decider import DomainError
from shared.registry import EventData

S = TypeVar("S")
C = TypeVar("C")

Step = Callable[[S, Any], Sequence[EventData]]
Apply = TypeVar("Apply", bound=Callable[..., Any])


def decide_by(
    steps: Mapping[type, Step[S]], guard: Callable[[S, C], bool] | None = None
) -> Callable[[S, C], Sequence[EventData]]:
    """``decide(state, command)``: ``guard`` first (it raises :class:`DomainError` to refuse, or
    answers False when the command decides nothing on this state), then the command's step."""

    def decide(state: S, command: C) -> Sequence[EventData]:
        step = steps.get(type(command))
        if step is None:
            raise DomainError(f"unknown command {type(command).__name__}")
        if guard is not None and not guard(state, command):
            return []
        return step(state, command)

    return decide


class Evolutions(Generic[S]):
    """``evolve(state, event)`` from one small function per event type."""

    def __init__(self) -> None:
        self.table: dict[type, Callable[[S, Any], S]] = {}

    def on(self, *event_types: type) -> Callable[[Apply], Apply]:
        """Register the decorated function as the evolution of these event types."""

        def register(apply: Apply) -> Apply:
            self.table.update(dict.fromkeys(event_types, apply))
            return apply

        return register

    def __call__(self, state: S, event: EventData) -> S:
        apply = self.table.get(type(event))
        return state if apply is None else apply(state, event)
