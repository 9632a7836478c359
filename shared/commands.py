"""Command handling: load a stream, decide, append with optimistic concurrency — one transaction.

A command given an ``expected_version`` (the client's ``If-Match``) fails with
:class:`~shared.eventstore.ConcurrencyError` when someone else changed the stream meanwhile (a 409
for the client: nobody's edit is silently overwritten). Without one, a conflict is retried on the
fresh state a few times, because the decision is re-made on what is really there.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import uuid4

import asyncpg

from shared.clock import Clock
from shared.decider import Decider, NotFound
from shared.envelope import Envelope, Metadata
from shared.eventstore import ConcurrencyError, EventStore
from shared.metrics import APPEND_SECONDS, COMMAND_CONFLICTS, EVENTS_APPENDED
from shared.registry import EventData

S = TypeVar("S")
C = TypeVar("C")

AfterAppend = Callable[[asyncpg.Connection, S, Sequence[Envelope]], Awaitable[None]]
"""Extra writes of the same transaction (deadlines, lookup rows), given the new state."""


@dataclass(frozen=True)
class CommandResult(Generic[S]):
    state: S
    version: int
    events: list[Envelope]


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int
    history: list[Envelope]


class CommandHandler(Generic[C, S]):
    def __init__(
        self,
        *,
        service: str,
        store: EventStore,
        decider: Decider[C, S],
        clock: Clock,
        after_append: AfterAppend[S] | None = None,
        retries: int = 3,
    ) -> None:
        self.service = service
        self.store = store
        self.decider = decider
        self.clock = clock
        self.after_append = after_append
        self.retries = retries

    async def load(self, stream_id: str, conn: asyncpg.Connection | None = None) -> Loaded[S]:
        history = await self.store.read_stream(stream_id, conn)
        registry = self.store.registry
        state = self.decider.fold(registry.decode(e) for e in history)
        return Loaded(state, len(history), history)

    async def execute(
        self,
        stream_id: str,
        command: C,
        *,
        branch_id: str | None,
        meta: Metadata,
        expected_version: int | None = None,
        must_exist: bool = True,
    ) -> CommandResult[S]:
        for attempt in range(self.retries + 1):
            try:
                return await self._once(stream_id, command, branch_id, meta, expected_version, must_exist)
            except ConcurrencyError:
                if expected_version is not None or attempt == self.retries:
                    COMMAND_CONFLICTS.labels(self.service, "rejected").inc()
                    raise
                COMMAND_CONFLICTS.labels(self.service, "retried").inc()
        raise AssertionError("unreachable")

    async def _once(
        self,
        stream_id: str,
        command: C,
        branch_id: str | None,
        meta: Metadata,
        expected_version: int | None,
        must_exist: bool,
    ) -> CommandResult[S]:
        loaded = await self.load(stream_id)
        if must_exist and loaded.version == 0:
            raise NotFound(f"{stream_id} does not exist")
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyError(stream_id, expected_version, loaded.version)
        decided = self.decider.decide(loaded.state, command)
        branch = branch_id or (loaded.history[0].branch_id if loaded.history else None)
        if branch is None:
            raise ValueError("a new stream needs a branch_id")
        envelopes = self.envelopes(stream_id, loaded.version, branch, decided, meta)
        state = self.decider.fold(decided, loaded.state)
        started = time.perf_counter()
        if self.after_append is None:
            await self.store.append(stream_id, loaded.version, envelopes)
        else:
            async with self.store.transaction() as conn:
                await self.store.append(stream_id, loaded.version, envelopes, conn)
                await self.after_append(conn, state, envelopes)
        APPEND_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        EVENTS_APPENDED.labels(self.service).inc(len(envelopes))
        return CommandResult(state, loaded.version + len(envelopes), envelopes)

    def envelopes(
        self,
        stream_id: str,
        version: int,
        branch_id: str,
        events: Sequence[EventData],
        meta: Metadata,
    ) -> list[Envelope]:
        now = self.clock.now()
        return [
            Envelope(
                event_id=uuid4(),
                type=event.event_type,
                schema_version=event.schema_version,
                stream_id=stream_id,
                stream_version=version + offset,
                branch_id=branch_id,
                occurred_at=now,
                recorded_at=now,
                correlation_id=meta.correlation_id,
                causation_id=meta.causation_id,
                actor=meta.actor,
                data=event.model_dump(mode="json"),
            )
            for offset, event in enumerate(events, start=1)
        ]
