"""``decide`` as a table: each command type's step, after one guard every command passes.

A decider's ``decide`` is the same three lines in every service: check what every command needs
(a started stream, an open task …), look up the command's step, refuse an unknown command.
:func:`decide_by` is those lines once; a service gives its table and its guard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from shared.decider import DomainError
from shared.registry import EventData

S = TypeVar("S")
C = TypeVar("C")

Step = Callable[[S, Any], Sequence[EventData]]


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
