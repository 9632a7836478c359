"""An event as the columns of the ``events`` table: what every append statement sends
(``shared.eventstore``'s single-stream append as one JSON array, ``shared.append_many``'s
multi-stream one as arrays)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import to_json

from shared.envelope import Envelope


class EventTooLarge(ValueError):
    pass


def _data(env: Envelope, max_event_bytes: int) -> bytes:
    # compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes it, at a
    # quarter of its CPU (pydantic's serializer; the column is jsonb: PostgreSQL parses it anyway)
    encoded = to_json(env.data)
    if len(encoded) > max_event_bytes:
        raise EventTooLarge(f"event {env.type} is {len(encoded)} bytes, the limit is {max_event_bytes}")
    return encoded


def events_json(events: Sequence[Envelope], max_event_bytes: int) -> str:
    """The events' columns as one JSON array of objects (``shared.eventstore``'s append reads it
    with ``json_to_recordset``): instants with their offsets and microseconds, ids as text, the
    data as the JSON object itself (:class:`EventTooLarge` above ``max_event_bytes``)."""
    rows = []
    for env in events:
        data = _data(env, max_event_bytes)
        columns = to_json(
            {
                "event_id": env.event_id,
                "stream_version": env.stream_version,
                "type": env.type,
                "schema_version": env.schema_version,
                "branch_id": env.branch_id,
                "occurred_at": env.occurred_at,
                "recorded_at": env.recorded_at,
                "correlation_id": env.correlation_id,
                "causation_id": env.causation_id,
                "actor": env.actor,
            }
        )
        rows.append(columns[:-1] + b',"data":' + data + b"}")
    return (b"[" + b",".join(rows) + b"]").decode()


def event_row(env: Envelope, max_event_bytes: int) -> tuple[object, ...]:
    """An event's columns for the append statements, from ``event_id`` to its JSON ``data``
    (:class:`EventTooLarge` above ``max_event_bytes``)."""
    data = _data(env, max_event_bytes).decode()
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
