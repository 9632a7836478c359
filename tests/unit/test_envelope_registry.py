"""The envelope refuses malformed events; the registry upcasts old versions and refuses unknown ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared.envelope import Envelope, from_json, to_json
from shared.registry import EventData, EventRegistry, UnknownEventType

NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def envelope_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": str(uuid4()),
        "type": "ParcelSent",
        "schema_version": 1,
        "stream_id": "parcel-1",
        "stream_version": 1,
        "branch_id": "branch-001",
        "occurred_at": NOW.isoformat(),
        "recorded_at": NOW.isoformat(),
        "correlation_id": str(uuid4()),
        "causation_id": None,
        "actor": "staff-7",
        "data": {"weight_g": 120},
    }
    fields.update(overrides)
    return fields


# ------------------------------------------------------------------------------------ envelope


def test_envelope_round_trips_through_json() -> None:
    env = Envelope.model_validate(envelope_fields())
    assert from_json(to_json(env)) == env


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "not-a-uuid"),
        ("type", ""),
        ("type", "has spaces"),
        ("type", "1StartsWithDigit"),
        ("schema_version", 0),
        ("stream_id", ""),
        ("stream_id", "x" * 129),
        ("stream_id", "drop table;"),
        ("stream_version", 0),
        ("branch_id", "branch/../../etc"),
        ("occurred_at", "yesterday"),
        ("correlation_id", None),
        ("actor", ""),
        ("data", [1, 2, 3]),
    ],
)
def test_envelope_refuses_a_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate(envelope_fields(**{field: value}))


def test_envelope_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate(envelope_fields(smuggled="x"))
    incomplete = envelope_fields()
    del incomplete["branch_id"]
    with pytest.raises(ValidationError):
        Envelope.model_validate(incomplete)


def test_from_json_refuses_what_is_not_json() -> None:
    with pytest.raises(ValidationError):
        from_json(b"\x00\xffnot json")
    with pytest.raises(ValidationError):
        from_json(json.dumps([envelope_fields()]))


def test_envelope_is_immutable() -> None:
    env = Envelope.model_validate(envelope_fields())
    with pytest.raises(ValidationError):
        env.actor = "someone-else"  # type: ignore[misc]


# ------------------------------------------------------------------------------------ registry


def private_registry() -> tuple[EventRegistry, type[EventData]]:
    """A registry of its own, so nothing leaks into the process-wide ``REGISTRY``."""
    registry = EventRegistry()

    class ParcelSentV2(EventData):
        weight_g: int
        sender_ref: str

    ParcelSentV2.event_type = "ParcelSent"
    ParcelSentV2.schema_version = 2
    registry.register(ParcelSentV2)
    registry.add_upcaster("ParcelSent", 1, lambda data: {**data, "sender_ref": "unknown"})
    return registry, ParcelSentV2


def test_registry_upcasts_an_old_version_on_read() -> None:
    registry, model = private_registry()
    old = Envelope.model_validate(envelope_fields(schema_version=1, data={"weight_g": 120}))

    current = registry.upcast(old)

    assert current.schema_version == 2
    assert current.data == {"weight_g": 120, "sender_ref": "unknown"}
    assert current.event_id == old.event_id and current.stream_version == old.stream_version
    decoded = registry.decode(current)
    assert isinstance(decoded, model)
    assert decoded.sender_ref == "unknown"  # type: ignore[attr-defined]
    assert old.schema_version == 1, "upcasting never rewrites the original"


def test_registry_leaves_a_current_event_alone() -> None:
    registry, _ = private_registry()
    env = Envelope.model_validate(envelope_fields(schema_version=2, data={"weight_g": 1, "sender_ref": "s"}))
    assert registry.upcast(env) is env


def test_registry_chains_upcasters() -> None:
    registry = EventRegistry()

    class V3(EventData):
        grams: int
        note: str

    V3.event_type, V3.schema_version = "ParcelSent", 3
    registry.register(V3)
    registry.add_upcaster("ParcelSent", 1, lambda d: {"grams": d["weight_g"]})
    registry.add_upcaster("ParcelSent", 2, lambda d: {**d, "note": ""})

    env = registry.upcast(Envelope.model_validate(envelope_fields(data={"weight_g": 5})))
    assert (env.schema_version, env.data) == (3, {"grams": 5, "note": ""})


def test_registry_refuses_an_unknown_type() -> None:
    registry, _ = private_registry()
    env = Envelope.model_validate(envelope_fields(type="ParcelEaten"))
    with pytest.raises(UnknownEventType, match="ParcelEaten"):
        registry.upcast(env)
    with pytest.raises(UnknownEventType):
        registry.model_for("ParcelEaten")


def test_registry_refuses_a_version_newer_than_it_knows() -> None:
    registry, _ = private_registry()
    env = Envelope.model_validate(envelope_fields(schema_version=3))
    with pytest.raises(UnknownEventType, match="newer"):
        registry.upcast(env)


def test_registry_refuses_a_missing_upcaster() -> None:
    registry = EventRegistry()

    class V2(EventData):
        weight_g: int

    V2.event_type, V2.schema_version = "ParcelSent", 2
    registry.register(V2)
    with pytest.raises(UnknownEventType, match="no upcaster"):
        registry.upcast(Envelope.model_validate(envelope_fields()))


def test_registry_validates_the_data() -> None:
    registry, _ = private_registry()
    forged = Envelope.model_validate(envelope_fields(schema_version=2, data={"weight_g": "heavy"}))
    with pytest.raises(ValidationError):
        registry.upcast(forged)
    extra = Envelope.model_validate(
        envelope_fields(schema_version=2, data={"weight_g": 1, "sender_ref": "s", "unexpected": "x"})
    )
    with pytest.raises(ValidationError):
        registry.upcast(extra)


def test_registry_refuses_two_models_for_one_type() -> None:
    registry, _ = private_registry()

    class Other(EventData):
        x: int

    Other.event_type, Other.schema_version = "ParcelSent", 1
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Other)


def test_registry_decodes_what_it_just_validated_or_made_without_validating_again() -> None:
    registry, model = private_registry()
    env = Envelope.model_validate(envelope_fields(schema_version=2, data={"weight_g": 1, "sender_ref": "s"}))
    upcast = registry.upcast(env, stored=True)
    first = registry.decode(upcast)
    again = registry.decode(upcast)
    assert first == again == model(weight_g=1, sender_ref="s")
    assert again is not first, "a decode takes the remembered event out: the next one validates"

    made = model(weight_g=2, sender_ref="t")
    fields = envelope_fields(schema_version=2, data=made.model_dump(mode="json"))
    enveloped = registry.encoded(Envelope.model_validate(fields), made)
    copy = Envelope.model_validate(fields)
    # an equal payload that is another object is validated as ever
    assert registry.decode(copy) == made and registry.decode(copy) is not made
    assert registry.decode(enveloped) is made


def test_registry_remembers_a_bounded_number_of_events() -> None:
    from shared.registry import KNOWN_EVENTS

    registry, _ = private_registry()
    envelopes = [
        registry.upcast(
            Envelope.model_validate(
                envelope_fields(schema_version=2, data={"weight_g": n, "sender_ref": "s"})
            )
        )
        for n in range(KNOWN_EVENTS + 10)
    ]
    assert len(registry._known) <= KNOWN_EVENTS + 1
    # the forgotten ones decode all the same
    assert [registry.decode(e).weight_g for e in envelopes] == list(range(KNOWN_EVENTS + 10))  # type: ignore[attr-defined]
