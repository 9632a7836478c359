"""Building blocks for tests of the event mechanism: envelopes and a migrated store schema; other
contexts' events as their event stores would publish them (``Stream``, ``envelope_of``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from shared import registry
from shared.envelope import Envelope, Metadata
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.registry import EventData, EventRegistry


class ThingHappened(EventData):
    """The one event type of the mechanism's tests, in a registry of their own."""

    n: int = 0
    who: int | None = None
    blob: str | None = None


ThingHappened.event_type, ThingHappened.schema_version = "ThingHappened", 1
TEST_REGISTRY = EventRegistry()
TEST_REGISTRY.register(ThingHappened)


def make_envelope(
    stream_id: str,
    version: int,
    *,
    type: str = "ThingHappened",
    branch_id: str = "branch-001",
    data: dict[str, Any] | None = None,
    schema_version: int = 1,
    event_id: UUID | None = None,
    at: datetime | None = None,
) -> Envelope:
    now = at or datetime.now(UTC)
    return Envelope(
        event_id=event_id or uuid4(),
        type=type,
        schema_version=schema_version,
        stream_id=stream_id,
        stream_version=version,
        branch_id=branch_id,
        occurred_at=now,
        recorded_at=now,
        correlation_id=uuid4(),
        actor="staff-test",
        data=data if data is not None else {"n": version},
    )


def make_envelopes(stream_id: str, after: int, count: int, **kwargs: Any) -> list[Envelope]:
    """``count`` envelopes continuing a stream that is at version ``after``."""
    return [make_envelope(stream_id, after + i, **kwargs) for i in range(1, count + 1)]


def envelope_of(
    data: EventData,
    *,
    stream_id: str,
    version: int,
    branch_id: str,
    at: datetime,
    actor: str = "staff-9",
    correlation_id: UUID | None = None,
) -> Envelope:
    """An envelope of a contract event, as another context's event store would publish it."""
    meta = Metadata(actor=actor, correlation_id=correlation_id or uuid4())
    return registry.envelope_of(
        data, stream_id=stream_id, version=version, branch_id=branch_id, meta=meta, at=at
    )


@dataclass
class Stream:
    """Another context's event stream: ``next(data)`` is its next envelope, recorded ``at`` (or at
    the time ``next`` names)."""

    stream_id: str
    branch_id: str
    version: int = 0
    correlation_id: UUID = field(default_factory=uuid4)
    at: datetime = field(kw_only=True)

    def next(self, data: EventData, *, at: datetime | None = None, actor: str = "lm-007") -> Envelope:
        self.version += 1
        return envelope_of(
            data,
            stream_id=self.stream_id,
            version=self.version,
            branch_id=self.branch_id,
            at=at or self.at,
            actor=actor,
            correlation_id=self.correlation_id,
        )


@asynccontextmanager
async def migrated_store(
    database_url: str, schema: str = "es", *, max_size: int = 20
) -> AsyncIterator[EventStore]:
    """An EventStore over a pool whose ``search_path`` is ``schema``, with the shared tables in it."""
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=max_size, server_settings={"search_path": schema}
    )
    store = EventStore(pool, channel=f"bc_events_{schema}", registry=TEST_REGISTRY)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, schema, None)
        yield store
    finally:
        await store.notifier.close()
        await pool.close()


async def connect(database_url: str, schema: str = "es") -> asyncpg.Connection:
    return await asyncpg.connect(database_url, server_settings={"search_path": schema})
