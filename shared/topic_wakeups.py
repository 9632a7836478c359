"""Wake idle consumers when a relay has published: one PostgreSQL NOTIFY per published batch.

The embedded broker (Tansu) holds a consumer's fetch for its whole max wait even when records
arrive meanwhile (measured: ``docs/operations.md``, "Idle consumers"), so against it consumers stop
fetching when idle (:mod:`shared.fetch_pacing`) and need to be told that there is something to
read. After the broker acknowledged a batch, the relay sends ``NOTIFY bc_published`` with its
topic (:func:`announce`); every service process listens on one connection (:class:`TopicWakeups`)
and wakes its consumers of that topic. A lost notification (the listener reconnecting, a producer
that is not a relay, another database) costs at most the consumer's idle wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import suppress

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "bc_published"
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0


async def announce(conn: asyncpg.Connection, topic: str) -> None:
    """Tell every listening process that ``topic`` has new records (delivered at commit)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, topic)


class TopicWakeups:
    """One LISTEN connection per process; :meth:`watch` gives an event set whenever a relay
    announces one of the topics (and once after every reconnect: announcements may be lost)."""

    def __init__(self, dsn: str, name: str = "wakeups") -> None:
        self._dsn = dsn
        self._name = name
        self._events: dict[str, list[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, topics: Iterable[str]) -> asyncio.Event:
        event = asyncio.Event()
        for topic in topics:
            self._events.setdefault(topic, []).append(event)
        return event

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self._name}-listen")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(BaseException):
                await self._task
            self._task = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, topic: str) -> None:
        for event in self._events.get(topic, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": f"{self._name}-listen"}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)  # type: ignore[arg-type]
                backoff = FIRST_BACKOFF_SECONDS
                self._wake_all()  # whatever was announced while nobody listened
                await lost.wait()
                log.info("%s: LISTEN connection lost; reconnecting", self._name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("%s: cannot LISTEN (%r); consumers poll meanwhile", self._name, exc)
            finally:
                if conn is not None and not conn.is_closed():
                    with suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
