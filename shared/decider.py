"""The decider shape every domain module follows (fmodel style), and its one error type.

``decide(state, command) -> [events]`` says what happens; ``evolve(state, event) -> state`` folds
what happened. Both are pure: no I/O, no clock (time arrives inside commands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.registry import EventData

S = TypeVar("S")
C = TypeVar("C")


class DomainError(Exception):
    """A command that is not allowed now; the message tells the member of staff why."""


class NotFound(DomainError):
    """The command or query names something that does not exist."""


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    initial_state: S
    decide: Callable[[S, C], Sequence[EventData]]
    evolve: Callable[[S, EventData], S]

    def fold(self, events: Iterable[EventData], state: S | None = None) -> S:
        current = self.initial_state if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current
