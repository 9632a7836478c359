"""An event as the columns of the ``events`` table: what every append statement sends
(``shared.eventstore``'s single-stream append, ``shared.append_many``'s multi-stream one)."""

from __future__ import annotations

from pydantic_core import to_json

from shared.envelope import Envelope


class EventTooLarge(ValueError):
    pass


def event_row(env: Envelope, max_event_bytes: int) -> tuple[object, ...]:
    """An event's columns for the append statements, from ``event_id`` to its JSON ``data``
    (:class:`EventTooLarge` above ``max_event_bytes``)."""
    # compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it, at a
    # quarter of its CPU (pydantic's serializer; the column is jsonb: PostgreSQL parses it anyway)
    encoded = to_json(env.data)
    if len(encoded) > max_event_bytes:
        raise EventTooLarge(f"event {env.type} is {len(encoded)} bytes, the limit is {max_event_bytes}")
    data = encoded.decode()
    return (
        env.event_id,
        env.stream_version,
        env.type,
        env.schema_version,
        env.branch_id,
        env.occurred_at,
        env.recorded_at,
        env.correlation_id,
        env.causation_id,
        env.actor,
        data,
    )
