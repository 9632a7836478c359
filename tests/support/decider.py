"""Given / when / then for any decider (``shared.decider.Decider``): one idiom for every service.

::

    given(decider, *past_events).when(command).then(ExpectedEvent(...))      # exactly these events
    given(decider, *past_events).when(command).then(ExpectedEventType, ...)  # these types, in order
    given(decider, *past_events).when(command).then_raises("the reason")     # refused, nothing recorded

``then`` returns the scenario after the command, so a test can go on (``.when(...)`` again) or
look at ``.state``; ``then_raises`` returns the unchanged scenario. The past is events (what was
recorded), as in emmett's ``DeciderSpecification``; :func:`recorded` turns commands into those
events when a test reads better as "the case went through these steps".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.decider import Decider, DomainError
from shared.registry import EventData

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E", bound=EventData)


def recorded(decider: Decider[C, S], *commands: C, events: Sequence[EventData] = ()) -> list[EventData]:
    """The events ``commands`` record one after the other (after ``events``)."""
    history = list(events)
    state = decider.fold(history)
    for command in commands:
        new = list(decider.decide(state, command))
        state = decider.fold(new, state)
        history.extend(new)
    return history


@dataclass(frozen=True)
class Scenario(Generic[C, S]):
    """A stream's past, ready for a command."""

    decider: Decider[C, S]
    history: tuple[EventData, ...] = ()

    @property
    def state(self) -> S:
        return self.decider.fold(list(self.history))

    def when(self, *commands: C) -> When[C, S]:
        """Run ``commands`` one after the other; a refusal stops at that command."""
        state, new = self.state, []
        for command in commands:
            try:
                decided = list(self.decider.decide(state, command))
            except DomainError as exc:
                return When(self, tuple(new), exc, state)
            state = self.decider.fold(decided, state)
            new.extend(decided)
        return When(self, tuple(new), None, state)

    def after(self, *commands: C) -> Scenario[C, S]:
        """The scenario once ``commands`` were recorded (a shorthand for set-up steps)."""
        return Scenario(self.decider, tuple(recorded(self.decider, *commands, events=self.history)))


@dataclass(frozen=True)
class When(Generic[C, S]):
    """What the command(s) decided: the new events, or the refusal."""

    given: Scenario[C, S]
    events: tuple[EventData, ...]
    error: DomainError | None
    state_after: S = field(repr=False)

    def then(self, *expected: EventData | type) -> Scenario[C, S]:
        """Exactly these events (an instance compares equal, a type matches any event of it)."""
        if self.error is not None:
            raise AssertionError(f"expected {_names(expected)}, but the command was refused: {self.error}")
        assert len(self.events) == len(expected), f"expected {_names(expected)}, got {_names(self.events)}"
        for got, want in zip(self.events, expected, strict=True):
            if isinstance(want, type):
                assert isinstance(got, want), f"expected {want.__name__}, got {type(got).__name__}"
            else:
                assert got == want, f"expected {want!r}, got {got!r}"
        return Scenario(self.given.decider, self.given.history + self.events)

    def then_raises(self, match: str, error: type[DomainError] = DomainError) -> Scenario[C, S]:
        """Refused with a reason matching ``match`` (a regex), and nothing recorded by that command."""
        assert self.error is not None, f"expected a refusal matching {match!r}, got {_names(self.events)}"
        assert isinstance(self.error, error), f"expected {error.__name__}, got {type(self.error).__name__}"
        assert re.search(match, str(self.error)), f"{match!r} not in {self.error}"
        return Scenario(self.given.decider, self.given.history + self.events)

    @property
    def state(self) -> Any:
        return self.state_after


def given(decider: Decider[C, S], *events: EventData) -> Scenario[C, S]:
    """A stream whose past is ``events``."""
    return Scenario(decider, tuple(events))


def only(outcome: When[Any, Any], kind: type[E]) -> E:
    """The one event ``outcome`` decided, of ``kind`` (``then(kind)`` checked), for a look at its fields."""
    outcome.then(kind)
    event = outcome.events[0]
    assert isinstance(event, kind)
    return event


def _names(events: Sequence[object]) -> list[str]:
    return [e.__name__ if isinstance(e, type) else type(e).__name__ for e in events]
