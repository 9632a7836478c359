"""The decider shape every domain module follows (fmodel style), and its one error type.

``decide(state, command) -> [events]`` says what happens; ``evolve(state, event) -> state`` folds
what happened. Both are pure: no I/O, no clock (time arrives inside commands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, dataclass_transform

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


@dataclass_transform(frozen_default=True)
class Command:
    """Base of a context's commands: each subclass is a frozen dataclass by declaration (no
    decorator), so a command reads as its fields; a base that declares fields shared by several
    commands (their time, the text they carry) is one too, and its fields come first."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
