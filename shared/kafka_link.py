"""Join Kafka in the background: commands need only PostgreSQL.

A service answers HTTP as soon as its database answers; the FastStream broker (the relay's
producer, the projections' subscribers) connects afterwards, with retries and exponential
backoff, and each subscriber joins its consumer group on its own, so a slow group join (a dead
member's session still open on the broker) or an unreachable broker never holds commands back.
Meanwhile the outbox keeps every event; the relay publishes once the producer is connected.

The state of each part is kept for ``/ready``: ``broker`` (``connecting``/``ok``/the last
error) and one entry per consumer group (``joining``/``ok``/``retrying: ...``).

Group membership after a restart: with ``KAFKA_GROUP_INSTANCE_ID`` set (a stable name per
replica, e.g. the pod name of a StatefulSet) every consumer is a *static* member (KIP-345) and a
restarted replica takes its old place without a rebalance on Apache Kafka. Without it, members
are dynamic and a restarted one waits for its ghost's session to expire, so the session timeout
should be short. Measured against the embedded broker (Tansu, memory storage), rejoining after
SIGKILL: dynamic, 10 s session 18.1 s; 3 s session 7.1 s; 2 s session 4.1 s (about 2.3 sessions);
static (any session) 6-8 s, the same as a first join: Tansu accepts ``group_instance_id`` but
gains nothing from it, so the dev stack uses 2 s dynamic sessions, as the tests do
(``services/devrunner/``).
``python -m bench.membership`` measures it again (against ``KAFKA_BOOTSTRAP_SERVERS`` if set).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from faststream.kafka import KafkaBroker

from shared.kafka_assignment import forget, stale_assignment

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 10.0
#: how often the subscribers' assignments are checked, and the bounds of the wait between two
#: restarts of the same consumer (doubling, so a broker that keeps answering stale costs little)
WATCH_SECONDS = 1.0
FIRST_RESTART_WAIT_SECONDS = 2.0
MAX_RESTART_WAIT_SECONDS = 300.0


_NOT_RUNNING = ("waiting", "joining", "retrying")


def _backoff(previous: float) -> float:
    return min(previous * 2, MAX_BACKOFF_SECONDS)


class KafkaLink:
    """Connects ``broker`` and starts its subscribers in the background, retrying forever."""

    def __init__(self, broker: KafkaBroker, service: str) -> None:
        self.broker = broker
        self.service = service
        self.broker_status = "connecting"
        #: consumer group -> status; other consumers (HQ's own) may add theirs
        self.consumers: dict[str, str] = {}
        self.connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for sub in self.broker.subscribers:
            self.consumers[_group(sub)] = "waiting for the broker"
        self._tasks.append(asyncio.create_task(self._run(), name=f"{self.service}-kafka-link"))

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.broker.connect()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.broker_status = f"unavailable: {exc!r}"[:300]
                level = logging.WARNING if attempt in (1, 2) or attempt % 10 == 0 else logging.DEBUG
                log.log(level, "%s: Kafka unreachable (%r); retrying in %.1f s", self.service, exc, backoff)
                await _reset(self.broker)
                await asyncio.sleep(backoff)
                backoff = _backoff(backoff)
        self.broker_status = "ok"
        self.connected.set()
        log.info("%s: connected to Kafka", self.service)
        for pub in self.broker.publishers:  # none today (the relay publishes directly); kept whole
            await pub.start()
        self.broker.running = True
        for sub in self.broker.subscribers:
            name = f"{self.service}-join-{_group(sub)}"
            self._tasks.append(asyncio.create_task(self._join(sub), name=name))
        self._tasks.append(asyncio.create_task(self._watch(), name=f"{self.service}-kafka-watch"))

    async def _join(self, sub: Any) -> None:
        """Start one subscriber (its group join waits for the assignment), retrying on failure."""
        group = _group(sub)
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            self.consumers[group] = "joining"
            try:
                await sub.start()
                self.consumers[group] = "ok"
                log.info("%s: consumer group %s joined", self.service, group)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.consumers[group] = f"retrying: {exc!r}"[:300]
                log.warning("%s: consumer group %s could not join (%r); retrying", self.service, group, exc)
                with suppress(Exception):
                    await sub.stop()
                await asyncio.sleep(backoff)
                backoff = _backoff(backoff)

    async def _watch(self) -> None:
        """Replace the consumer of a subscriber the broker gave a stale assignment
        (``shared.kafka_assignment``): a new member is assigned afresh. Bounded: the wait between
        two restarts of one consumer doubles up to ``MAX_RESTART_WAIT_SECONDS``."""
        wait: dict[str, float] = {}
        not_before: dict[str, float] = {}
        restarts: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            for sub in self.broker.subscribers:
                group = _group(sub)
                reason = stale_assignment(group)
                if reason is None or self.consumers.get(group, "").startswith(_NOT_RUNNING):
                    continue
                if loop.time() < not_before.get(group, 0.0):
                    self.consumers[group] = f"stale assignment, restart pending: {reason}"[:300]
                    continue
                if loop.time() - not_before.get(group, -MAX_RESTART_WAIT_SECONDS) > MAX_RESTART_WAIT_SECONDS:
                    wait[group] = FIRST_RESTART_WAIT_SECONDS / 2  # calm for long: start small again
                restarts[group] = restarts.get(group, 0) + 1
                wait[group] = min(
                    wait.get(group, FIRST_RESTART_WAIT_SECONDS / 2) * 2, MAX_RESTART_WAIT_SECONDS
                )
                not_before[group] = loop.time() + wait[group]
                log.warning(
                    "%s: consumer group %s: %s; restarting its consumer (restart %d, next >= %.0f s later)",
                    self.service,
                    group,
                    reason,
                    restarts[group],
                    wait[group],
                )
                self.consumers[group] = f"restarting: {reason}"[:300]
                forget(group)
                self._tasks.append(
                    asyncio.create_task(self._restart(sub), name=f"{self.service}-restart-{group}")
                )

    async def _restart(self, sub: Any) -> None:
        """A new consumer for ``sub``: a new group member, which the broker assigns afresh."""
        with suppress(Exception):
            await sub.stop()
        await self._join(sub)

    async def stop(self) -> None:
        """Stop trying (before the subscribers and the broker are stopped)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _group(sub: Any) -> str:
    return str(getattr(sub, "group_id", None) or getattr(sub, "_group_id", None) or "?")


async def _reset(broker: KafkaBroker) -> None:
    """Forget a half-made connection so the next ``connect()`` starts afresh."""
    with suppress(Exception):
        await broker.config.disconnect()
    broker._connection = None


def consumer_settings(group_instance_id: str | None, **options: Any) -> dict[str, Any]:
    """Consumer options with ``group_instance_id`` only when static membership is configured."""
    if group_instance_id:
        options["group_instance_id"] = group_instance_id
    return options
