"""Fields that travel by name: a command's into the event it decides, an event's into the state.

A decider's event mostly says again what its command said (the time, the texts, the codes), and
the state mostly keeps what its event said, and a view mostly shows the state's fields; the
names are the same on purpose (a command's
``at`` is its event's ``at``, an event's ``customer_ref`` is the state's). :func:`record` and
:func:`absorb` copy those fields by name, so a step or an evolve function writes only what it
decides or what is named differently. Tuples (dataclasses) and lists (pydantic events) are
converted at the boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

E = TypeVar("E", bound=BaseModel)
S = TypeVar("S")


def _of(source: object, name: str) -> tuple[bool, Any]:
    if isinstance(source, Mapping):
        return (name in source, source.get(name))
    return (hasattr(source, name), getattr(source, name, None))


def record(event: type[E], *sources: object, **decided: Any) -> E:
    """``event`` (or any pydantic model: a view of a state) with each of its fields taken by the
    same name from the first of ``sources`` (a command, a state, a mapping) that has it, then
    ``decided``; a tuple becomes a list."""
    fields: dict[str, Any] = {}
    for name in event.model_fields:
        for source in sources:
            has, value = _of(source, name)
            if has:
                fields[name] = list(value) if isinstance(value, tuple) else value
                break
    return event(**{**fields, **decided})


def absorb(state: S, event: object, **changes: Any) -> S:
    """``state`` (a frozen dataclass) with each of its fields the event has by the same name, then
    ``changes``; a list becomes a tuple."""
    taken = {
        f.name: tuple(value) if isinstance(value := getattr(event, f.name), list) else value
        for f in dataclasses.fields(state)  # type: ignore[arg-type]
        if hasattr(event, f.name)
    }
    return dataclasses.replace(state, **{**taken, **changes})  # type: ignore[type-var]
