"""Event types: ``type`` + ``schema_version`` → pydantic model, plus upcasters for old versions.

Contract modules (``shared.contracts.*``) register their events on import with ``@event``.
Old versions are upcast on read, never rewritten in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict

from shared.envelope import Envelope, Metadata

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
#: validation context flag: the data is an event this service stored earlier, read back (not
#: input); a contract type may repair what older code let through (``shared.contracts.refs``)
STORED_EVENT = "stored_event"


class EventData(BaseModel):
    """Base of every event payload. Unknown fields are refused: they would be forged or a bug."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


def envelope_of(
    event: EventData,
    *,
    stream_id: str,
    version: int,
    branch_id: str,
    meta: Metadata,
    at: datetime,
    recorded_at: datetime | None = None,
    exclude_defaults: bool = False,
) -> Envelope:
    """``event`` as the ``version``-th event of its stream, with a new event id: who and why from
    ``meta``, occurred ``at`` (recorded then too, unless ``recorded_at``); ``exclude_defaults``
    leaves fields at their defaults out of the data (upcasting and decoding fill them in)."""
    return Envelope(
        event_id=uuid4(),
        type=event.event_type,
        schema_version=event.schema_version,
        stream_id=stream_id,
        stream_version=version,
        branch_id=branch_id,
        occurred_at=at,
        recorded_at=at if recorded_at is None else recorded_at,
        correlation_id=meta.correlation_id,
        causation_id=meta.causation_id,
        actor=meta.actor,
        data=event.model_dump(mode="json", exclude_defaults=exclude_defaults),
    )


class UnknownEventType(ValueError):
    pass


#: how many payloads :class:`EventRegistry` remembers the validated event of (see ``_known``)
KNOWN_EVENTS = 64


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[str, type[EventData]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        #: ``id(data)`` → ``(data, event)``: the typed event of an envelope payload this registry
        #: has just validated (:meth:`upcast`) or made (:meth:`encoded`), so that the next
        #: :meth:`decode` of the same payload object does not validate it again (a stream's load
        #: upcasts then folds; a command's envelopes are decoded by its projections in the same
        #: transaction). Keyed by identity, the payload kept alive with it (its id cannot be reused
        #: while it is here); payloads are never changed in place. A decode takes its entry out,
        #: and only a few are kept (the oldest forgotten first): what is remembered lives no longer
        #: than it would have, so the garbage collector's old generation does not grow with it.
        self._known: dict[int, tuple[dict[str, Any], EventData]] = {}

    def register(self, model: type[EventData]) -> None:
        known = self._models.get(model.event_type)
        if known is not None and known is not model:
            raise ValueError(f"event type {model.event_type!r} registered twice")
        self._models[model.event_type] = model

    def add_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """``fn`` turns the data of ``from_version`` into ``from_version + 1``."""
        self._upcasters[(event_type, from_version)] = fn

    def models(self) -> dict[str, type[EventData]]:
        """Every registered event type and its current model (the event catalogue reads it)."""
        return dict(self._models)

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        return (event_type, from_version) in self._upcasters

    def model_for(self, event_type: str) -> type[EventData]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def upcast(self, envelope: Envelope, *, stored: bool = False) -> Envelope:
        """Bring an envelope's data to the current schema version and validate it (``stored``: read
        back from this service's own store, see :data:`STORED_EVENT`)."""
        model = self.model_for(envelope.type)
        version, data = envelope.schema_version, envelope.data
        if version > model.schema_version:
            raise UnknownEventType(
                f"{envelope.type} v{version} is newer than this service knows (v{model.schema_version})"
            )
        while version < model.schema_version:
            step = self._upcasters.get((envelope.type, version))
            if step is None:
                raise UnknownEventType(f"no upcaster for {envelope.type} v{version}")
            data, version = step(data), version + 1
        context = {STORED_EVENT: True} if stored else None
        event = model.model_validate(data, context=context)
        validated = event.model_dump(mode="json")
        if version == envelope.schema_version and validated == data:
            self._remember(data, event)
            return envelope
        self._remember(validated, event)
        return envelope.model_copy(update={"schema_version": version, "data": validated})

    def current_json(self, event_type: str, schema_version: int, raw: str) -> str:
        """The stored envelope JSON as it may leave the store: upcast when its version is older
        than the current one (v1 events with raw free text become withheld refs), else unchanged.

        The outbox relay publishes what :meth:`EventStore.read_all_after` returns, so a
        re-publication of old rows (a lost topic, a rebuild) never spreads what upcasting removes.
        Unknown types and upcast failures are left as they are (consumers dead-letter them)."""
        model = self._models.get(event_type)
        if model is None or schema_version >= model.schema_version:
            return raw
        try:
            envelope = Envelope.model_validate_json(raw)
        except ValueError:
            return raw
        try:
            return self.upcast(envelope, stored=True).model_dump_json()
        except ValueError:
            # not valid even upcast (consumers will dead-letter it): its old texts still go, the
            # upcasters' steps run without the final validation
            data, version = envelope.data, envelope.schema_version
            while (step := self._upcasters.get((event_type, version))) is not None:
                data, version = step(data), version + 1
            return envelope.model_copy(update={"schema_version": version, "data": data}).model_dump_json()

    def decode(self, envelope: Envelope) -> EventData:
        """The typed payload of an (already upcast) envelope."""
        data = envelope.data
        known = self._known.pop(id(data), None)
        if known is not None and known[0] is data and type(known[1]).event_type == envelope.type:
            return known[1]
        return self.model_for(envelope.type).model_validate(data)

    def encoded(self, envelope: Envelope, event: EventData) -> Envelope:
        """``envelope``, made of ``event`` (its ``data`` is ``event``'s JSON dump): a later
        :meth:`decode` of it answers ``event`` itself without validating the payload again."""
        self._remember(envelope.data, event)
        return envelope

    def _remember(self, data: dict[str, Any], event: EventData) -> None:
        known = self._known
        known[id(data)] = (data, event)
        if len(known) > KNOWN_EVENTS:
            try:
                del known[next(iter(known))]
            except (KeyError, RuntimeError, StopIteration):  # another thread trimmed it meanwhile
                pass


REGISTRY = EventRegistry()

E = TypeVar("E", bound=type[EventData])


def event(event_type: str, version: int = 1) -> Callable[[E], E]:
    """Class decorator: name an event payload model and register it in ``REGISTRY``."""

    def wrap(model: E) -> E:
        model.event_type = event_type
        model.schema_version = version
        REGISTRY.register(model)
        return model

    return wrap
