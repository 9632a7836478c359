"""``shared.by_name`` works out once per pair of types which names a source has: the same fields
come across as when every instance is asked (``hasattr``), properties and defaults included."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from shared import by_name


class Event(BaseModel):
    at: int
    note: str | None = None
    tags: list[str] = []

    @property
    def derived(self) -> str:
        return f"d{self.at}"


@dataclass(frozen=True)
class State:
    at: int = 0
    note: str | None = "old"
    tags: tuple[str, ...] = ()
    derived: str = ""
    untouched: int = 7


@dataclass(frozen=True)
class Command:
    at: int
    tags: tuple[str, ...] = ("x",)
    extra: list[int] = field(default_factory=list)


def test_absorb_takes_fields_properties_and_defaults_by_name() -> None:
    state = by_name.absorb(State(), Event(at=3, tags=["a"]), untouched=8)
    assert state == State(at=3, note=None, tags=("a",), derived="d3", untouched=8)
    again = by_name.absorb(State(), Event(at=4))  # the names worked out once, values per event
    assert again == State(at=4, note=None, tags=(), derived="d4", untouched=7)


def test_record_takes_each_field_from_the_first_source_that_has_it() -> None:
    fast = by_name.record(Event, Command(at=1), State(note="kept"))
    slow = by_name.record(Event, {"at": 1, "tags": ("x",)}, State(note="kept"))  # a mapping: asked each time
    assert fast == slow == Event(at=1, note="kept", tags=["x"])
    assert by_name.record(Event, Command(at=2), note="decided") == Event(at=2, note="decided", tags=["x"])
