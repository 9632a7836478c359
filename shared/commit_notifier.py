"""Wake-ups after commits: :class:`CommitNotifier` tells the outbox relay that events committed.

Kept apart from :mod:`shared.eventstore` (which owns one per store): it is about waking a reader, not
about storing events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)


class CommitNotifier:
    """Wakes listeners (the outbox relay) after events commit, with at most one NOTIFY in flight.

    A NOTIFY inside every append would serialise all commits on PostgreSQL's notify-queue lock;
    instead a NOTIFY is sent after the commit, from its own tiny transaction with
    ``synchronous_commit`` off, and pokes that arrive meanwhile are folded into the next one.

    When the leading relay runs in this very process it attaches itself (:meth:`attach_local`)
    and is poked directly: no NOTIFY transaction per burst of appends, which under load is a
    second stream of commits competing with the appends. Other replicas still NOTIFY it.
    """

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self.channel = channel
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._local: Callable[[], None] | None = None

    def attach_local(self, wake: Callable[[], None]) -> None:
        """Poke ``wake`` directly instead of sending NOTIFY (the leading relay of this process)."""
        self._local = wake

    def detach_local(self, wake: Callable[[], None]) -> None:
        if self._local == wake:
            self._local = None

    def poke(self) -> None:
        if self._local is not None:
            self._local()
            return
        self._pending.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._pending.is_set():
            self._pending.clear()
            try:
                async with self._pool.acquire() as conn:
                    await conn.execute(
                        f"BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY {self.channel}; COMMIT;"
                    )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the relay also wakes on its safety timer; a lost wake-up only delays it
                log.warning("could not send NOTIFY %s: %s", self.channel, exc)
                return

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
