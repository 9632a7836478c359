"""What the projection runner validates of a record (``ProjectionRunner._decode``): only the data of
the types its projection handles, when the projection says which (``EventHandlers.handles``)."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

from shared.projection import EventHandlers, ProjectionRunner
from tests.support.events import TEST_REGISTRY, ThingHappened, make_envelope


def record(value: bytes) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord("t", 0, 0, 0, 0, b"k", value, None, 0, len(value), ())


def runner(projection: Any) -> ProjectionRunner:
    return ProjectionRunner(projection, service="s", pool=None, broker=None, registry=TEST_REGISTRY)  # type: ignore[arg-type]


def thing(data: dict[str, Any], *, type: str = "ThingHappened") -> bytes:
    return make_envelope("s-1", 1, type=type, data=data).model_dump_json().encode()


async def _handler(conn: Any, env: Any, data: Any) -> None:
    return None


def test_bad_data_of_a_handled_type_is_refused_with_its_reason() -> None:
    handlers = EventHandlers("p", ["t"], registry=TEST_REGISTRY)
    handlers.on(ThingHappened)(_handler)
    item = runner(handlers)._decode(record(thing({"n": "not a number"})))
    assert item.error is not None and item.error.startswith("invalid ThingHappened data")


def test_a_type_the_projection_ignores_is_not_validated_but_still_counts() -> None:
    item = runner(EventHandlers("p", ["t"], registry=TEST_REGISTRY))._decode(record(thing({"n": "x"})))
    assert item.error is None and item.envelope is not None and item.envelope.stream_version == 1


def test_an_unknown_type_is_refused_even_when_ignored() -> None:
    item = runner(EventHandlers("p", ["t"], registry=TEST_REGISTRY))._decode(record(thing({}, type="Forged")))
    assert item.error is not None and "unknown event type" in item.error


def test_a_projection_that_names_no_types_has_every_record_validated() -> None:
    class Whole:
        name, topics = "p", ("t",)

        async def apply(self, conn: Any, events: Any) -> None:
            return None

    item = runner(Whole())._decode(record(thing({"n": "x"})))
    assert item.error is not None and item.error.startswith("invalid ThingHappened data")
