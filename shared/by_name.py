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
import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

E = TypeVar("E", bound=BaseModel)
S = TypeVar("S")


def _of(source: object, name: str) -> tuple[bool, Any]:
    if isinstance(source, Mapping):
        return (name in source, source.get(name))
    return (hasattr(source, name), getattr(source, name, None))


def _fixed(kind: type) -> bool:
    """Whether every instance of ``kind`` has the same attribute names (a dataclass, a pydantic
    model without extra fields): which names it has can then be worked out once per type."""
    if dataclasses.is_dataclass(kind):
        return bool(kind.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    return issubclass(kind, BaseModel) and kind.model_config.get("extra") != "allow"


def _has(kind: type, name: str) -> bool:
    """``hasattr(instance, name)`` for any instance of a :func:`_fixed` type, from the type: a
    field (a dataclass's or a pydantic model's) or anything its class has (properties, methods)."""
    if dataclasses.is_dataclass(kind):
        return name in {f.name for f in dataclasses.fields(kind)} or hasattr(kind, name)
    return name in kind.model_fields or hasattr(kind, name)  # type: ignore[attr-defined]


@functools.cache
def _plan(event: type[BaseModel], sources: tuple[type, ...]) -> tuple[tuple[str, int], ...]:
    """Each field of ``event`` with the index of the first source type that has it."""
    plan = []
    for name in event.model_fields:
        index = next((i for i, kind in enumerate(sources) if _has(kind, name)), None)
        if index is not None:
            plan.append((name, index))
    return tuple(plan)


def record(event: type[E], *sources: object, **decided: Any) -> E:
    """``event`` (or any pydantic model: a view of a state) with each of its fields taken by the
    same name from the first of ``sources`` (a command, a state, a mapping) that has it, then
    ``decided``; a tuple becomes a list."""
    fields: dict[str, Any] = {}
    kinds = tuple(type(source) for source in sources)
    if all(_fixed(kind) for kind in kinds):  # the names each source has are its type's: worked out once
        for name, index in _plan(event, kinds):
            value = getattr(sources[index], name)
            fields[name] = list(value) if isinstance(value, tuple) else value
        return event(**{**fields, **decided})
    for name in event.model_fields:
        for source in sources:
            has, value = _of(source, name)
            if has:
                fields[name] = list(value) if isinstance(value, tuple) else value
                break
    return event(**{**fields, **decided})


#: (state type, event type) → the state's fields such an event has (:func:`_absorbed`)
_ABSORBED: dict[tuple[type, type], tuple[str, ...]] = {}


def _absorbed(state: type, event: type) -> tuple[str, ...]:
    """The fields of ``state`` an event of type ``event`` (:func:`_fixed`) has by the same name."""
    names = _ABSORBED.get((state, event))
    if names is None:
        names = _ABSORBED[state, event] = tuple(
            f.name for f in dataclasses.fields(state) if _has(event, f.name)
        )
    return names


def absorb(state: S, event: object, **changes: Any) -> S:
    """``state`` (a frozen dataclass) with each of its fields the event has by the same name, then
    ``changes``; a list becomes a tuple. (Asking a pydantic event for each of the state's names
    costs an exception per name it lacks: the names are worked out once per pair of types.)"""
    if _fixed(type(event)):
        names = _absorbed(type(state), type(event))
    else:
        names = tuple(f.name for f in dataclasses.fields(state) if hasattr(event, f.name))  # type: ignore[arg-type]
    taken = {
        name: tuple(value) if isinstance(value := getattr(event, name), list) else value for name in names
    }
    return replace(state, **{**taken, **changes})


@functools.cache
def _copyable(kind: type) -> frozenset[str] | None:
    """The field names of a dataclass whose instance can be copied by its ``__dict__`` (every
    field set by ``__init__``, no ``__post_init__``, no slots, nothing cached on the instance),
    else None."""
    fields = dataclasses.fields(kind)
    cached = any(isinstance(v, functools.cached_property) for c in kind.__mro__ for v in vars(c).values())
    plain = all(f.init for f in fields) and not hasattr(kind, "__post_init__")
    if not plain or cached or hasattr(kind, "__slots__"):
        return None
    return frozenset(f.name for f in fields)


def replace(obj: S, /, **changes: Any) -> S:
    """``dataclasses.replace`` for a frozen state (what every evolve step does): the instance's
    dict copied and changed, not ``__init__`` called with every field by keyword (~10x faster; a
    fold is a chain of these: a visit's state has 30 fields, ~25 µs a step). The same result:
    unknown names are refused; a dataclass it cannot copy so goes through ``dataclasses.replace``."""
    kind: type = type(obj)
    names = _copyable(kind)
    if names is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    if not names.issuperset(changes):
        unknown = ", ".join(sorted(set(changes) - names))
        raise TypeError(f"{kind.__name__} has no field(s) {unknown}")
    new: S = object.__new__(kind)
    state = new.__dict__
    state.update(obj.__dict__)
    state.update(changes)
    return new
