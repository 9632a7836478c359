"""Wake idle consumers when a relay has published: one PostgreSQL NOTIFY per published batch.

The embedded broker (Tansu) holds a consumer's fetch for its whole max wait even when records
arrive meanwhile (measured: ``docs/operations.md``, "Idle consumers"), so against it consumers stop
fetching when idle (:mod:`shared.fetch_pacing`) and need to be told that there is something to
read. After the broker acknowledged a batch, the relay notifies its topic's own channel
(:func:`channel_of`, payload: the topic; :func:`announce`); every service process listens on one
connection (:class:`TopicWakeups`), to the channels of the topics its consumers read only, and
wakes its consumers of that topic. A lost notification (the listener reconnecting, a producer
that is not a relay, another database) costs at most the consumer's idle wait.

One channel per topic, not one for all: with a single channel every process took every relay's
announcement (six relays, each announcing every batch, to seven processes), although each
process reads two or three topics; HQ reads only the HQ feed's. A channel name is an identifier
(at most 63 bytes): a longer topic gets a digest of its name; the payload still names the topic,
so two topics sharing a channel wake only their own consumers.

The same connection carries the process's outbox relay wake-ups (:meth:`TopicWakeups.listen`: the
store's commit channel, NOTIFYed by other replicas of the service), which the relay otherwise
LISTENs to on its own connection. PostgreSQL (up to 18) signals every backend that listens to
any channel of the database at every NOTIFY, whatever the channel; each wakes, reads the queue
and drops what is not for it (measured here: ~45 µs of a backend's CPU per NOTIFY, matching or
not, and ~60 µs in an idle Python listener for a matching one). So every announcement cost two
listening backends per service process; with one connection per process it costs one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from contextlib import suppress

import asyncpg

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "bc_published:"
#: PostgreSQL's identifier limit (NAMEDATALEN - 1): ``pg_notify`` refuses a longer channel
MAX_CHANNEL_BYTES = 63
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0


def channel_of(topic: str) -> str:
    """The NOTIFY channel announcing ``topic``."""
    channel = CHANNEL_PREFIX + topic
    if len(channel.encode()) <= MAX_CHANNEL_BYTES:
        return channel
    return CHANNEL_PREFIX + hashlib.sha1(topic.encode()).hexdigest()


async def announce(conn: asyncpg.Connection, topic: str) -> None:
    """Tell the processes that read ``topic`` that it has new records (delivered at commit)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel_of(topic), topic)


class TopicWakeups:
    """One LISTEN connection per process; :meth:`watch` gives an event set whenever a relay
    announces one of the topics (and once after every reconnect, or when its channel is first
    listened to: announcements may have been missed); :meth:`listen` calls back on a NOTIFY of a
    channel of another kind (the relay's commit channel), likewise after every reconnect."""

    def __init__(self, dsn: str, name: str = "wakeups") -> None:
        self._dsn = dsn
        self._name = name
        self._events: dict[str, list[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        #: channel → callbacks, for :meth:`listen`
        self._channels: dict[str, list[Callable[[], None]]] = {}
        #: set by :meth:`watch` and :meth:`listen`: the listening connection adds the new channels
        self._watched = asyncio.Event()

    def watch(self, topics: Iterable[str]) -> asyncio.Event:
        event = asyncio.Event()
        for topic in topics:
            self._events.setdefault(topic, []).append(event)
        self._watched.set()
        return event

    def listen(self, channel: str, wake: Callable[[], None]) -> None:
        """Call ``wake`` on every NOTIFY of ``channel`` (any payload), once after every reconnect,
        and once when the channel is first listened to."""
        self._channels.setdefault(channel, []).append(wake)
        self._watched.set()

    def unlisten(self, channel: str, wake: Callable[[], None]) -> None:
        """No more calls of ``wake`` (the channel stays listened to: a NOTIFY then wakes nobody)."""
        with suppress(ValueError):
            self._channels.get(channel, []).remove(wake)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self._name}-listen")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(BaseException):
                await self._task
            self._task = None

    def _on_notify(self, _conn: object, _pid: int, channel: str, topic: str) -> None:
        for event in self._events.get(topic, ()):
            event.set()
        for wake in self._channels.get(channel, ()):
            wake()

    def _wake(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for event in self._events.get(topic, ()):
                event.set()

    async def _listen(self, conn: asyncpg.Connection, listening: set[str]) -> None:
        """LISTEN to the channels watched and not listened to yet; wake their watchers."""
        topics = [t for t in self._events if channel_of(t) not in listening]
        channels = [c for c in self._channels if c not in listening]
        for channel in dict.fromkeys([*(channel_of(t) for t in topics), *channels]):
            await conn.add_listener(channel, self._on_notify)  # type: ignore[arg-type]
            listening.add(channel)
        self._wake(topics)  # whatever was announced while nobody listened
        for channel in channels:
            for wake in list(self._channels.get(channel, ())):
                wake()

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
                listening: set[str] = set()
                backoff = FIRST_BACKOFF_SECONDS
                while not lost.is_set():
                    self._watched.clear()
                    await self._listen(conn, listening)
                    await _first(lost.wait(), self._watched.wait())
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


async def _first(*waits: object) -> None:
    """Wait until the first of ``waits`` (coroutines) is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
