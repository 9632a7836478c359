"""How a consumer polls Kafka: prompt when records come, (almost) silent when none do.

Two brokers, two behaviours (measured, ``docs/operations.md``, "Idle consumers"):

- **Apache Kafka** answers a waiting fetch as soon as a record arrives, so consumers simply
  long-poll: ``fetch_max_wait_ms`` = ``KAFKA_FETCH_MAX_WAIT_MS`` (500 ms), a couple of fetches a
  second when idle, no added latency when busy.
- **Tansu** (the embedded broker of ``make run`` and the tests) holds every fetch for its whole
  max wait, records or not: a long poll would add up to that wait to every hop, a 10 ms one burns
  5–8 % of a core per idle service. With ``KAFKA_FETCH_ANSWERS_EARLY=false`` a consumer fetches with
  10 ms waits while records come (a branch-side reaction, which nobody waits on, 100 ms), and
  after ``IDLE_AFTER_SECONDS`` without any it pauses its partitions (no fetch at all) until a
  relay announces its topic (:mod:`shared.topic_wakeups`);
  every ``KAFKA_FETCH_MAX_WAIT_MS`` it compares the partitions' end offsets with its positions
  (records from a producer that announces nothing, a lost announcement, a rewound gap).

:class:`Poller` is the one place consumers poll through (the projection runner's FastStream
subscribers, hqfeed's and HQ's own loops); it also reports ``branchcare_consumer_lag_records``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.metrics import CONSUMER_LAG

#: no record for this long: a consumer against a holding broker pauses its partitions
IDLE_AFTER_SECONDS = 0.2
#: fetch wait while records come (Tansu answers at once when it has records)
BUSY_FETCH_WAIT_MS = 10
#: how long one poll waits for records while fetching
BUSY_POLL_MS = 50
LAG_EVERY_SECONDS = 1.0
#: a branch-side reaction's busy fetch wait (``shared.projection.EventHandlers``): nobody waits on
#: it (the HQ path, hqfeed's and HQ's consumers, keeps 10 ms), and ten times fewer fetches make
#: ~ten times bigger batches: fewer transactions, offset commits and broker requests per event
#: (``python -m bench.stack_cpu``)
REACTION_FETCH_WAIT_MS = 100


@dataclass(frozen=True)
class FetchPacing:
    """``KAFKA_FETCH_MAX_WAIT_MS`` and ``KAFKA_FETCH_ANSWERS_EARLY`` (``shared.settings``)."""

    max_wait_ms: int = 500
    broker_answers_early: bool = True
    #: fetch wait while records come from a holding broker: ``BUSY_FETCH_WAIT_MS`` where latency
    #: matters (the HQ path); a reaction nobody waits on fetches less often and gets bigger batches
    #: (:meth:`relaxed`): fewer fetches, transactions and offset commits per event
    busy_wait_ms: int = BUSY_FETCH_WAIT_MS
    #: every batch published to the topics is announced (relays do when the broker holds fetches:
    #: ``OutboxRelay.announce_every``): a consumer that has taken all there is pauses at once and
    #: waits for the next announcement, instead of fetching on (each fetch held its whole wait)
    #: for ``idle_after_seconds``: HQ made 70 fetches a second at 100 creates/s, most of them empty
    #: (the HQ path's consumers; the branch side's reactions gather 100 ms batches instead)
    announced: bool = False

    @classmethod
    def of(cls, settings: Any, *, announced: bool = False) -> FetchPacing:
        return cls(settings.kafka_fetch_max_wait_ms, settings.kafka_fetch_answers_early, announced=announced)

    @property
    def fetch_max_wait_ms(self) -> int:
        """The consumer's ``fetch_max_wait_ms``."""
        return self.max_wait_ms if self.broker_answers_early else min(self.busy_wait_ms, self.max_wait_ms)

    def relaxed(self, busy_wait_ms: int) -> FetchPacing:
        """The same pacing with ``busy_wait_ms`` fetches while records come (a holding broker)."""
        return replace(self, busy_wait_ms=busy_wait_ms)

    @property
    def busy_poll_ms(self) -> int:
        """How long one poll waits for records while fetching: a few fetch waits."""
        return max(BUSY_POLL_MS, 2 * self.busy_wait_ms)

    @property
    def idle_after_seconds(self) -> float:
        """No record for this long: pause (long enough for a few empty fetches)."""
        return max(IDLE_AFTER_SECONDS, 3 * self.busy_wait_ms / 1000)


class Poller:
    """Polls one consumer (a new consumer, e.g. after a restart, starts afresh) by its pacing."""

    def __init__(
        self,
        pacing: FetchPacing,
        *,
        service: str,
        group: str,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.pacing = pacing
        self.wake = wake
        self.service = service
        self.group = group
        self._consumer: Any = None
        self._last_records = 0.0
        self._idle = False
        self._lag_at = 0.0
        self._lag_labels: set[tuple[str, str]] = set()
        #: when (ms since the epoch) the partitions were last resumed: only fetch responses
        #: taken after it show that the consumer has caught up (:meth:`_rest_if_caught_up`)
        self._resumed_at_ms = 0
        #: how often it paused as soon as it had caught up (``FetchPacing.announced``)
        self.rests = 0

    @property
    def idle(self) -> bool:
        return self._idle

    async def poll(
        self,
        consumer: AIOKafkaConsumer,
        max_records: int,
        *,
        max_wait_ms: int | None = None,
    ) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        """The next records (possibly none) after waiting at most about ``max_wait_ms`` (default:
        the pacing's; a caller with a deadline of its own passes the time left)."""
        if consumer is not self._consumer:
            self._consumer = consumer
            self._idle = False
            self._last_records = time.monotonic()
        wait = self.pacing.max_wait_ms if max_wait_ms is None else min(max_wait_ms, self.pacing.max_wait_ms)
        if self.pacing.broker_answers_early:
            records = await self._fetch(consumer, wait, max_records)
            await self._report_lag(consumer, force=not records)
            return records
        if not self._idle:
            records = await self._fetch(consumer, min(self.pacing.busy_poll_ms, wait), max_records)
            now = time.monotonic()
            if records:
                self._last_records = now
                await self._rest_if_caught_up(consumer)
                await self._report_lag(consumer)
                return records
            if now - self._last_records < self.pacing.idle_after_seconds:
                return []
            self._idle = True
            await self._report_lag(consumer, force=True)
        return await self._idle_poll(consumer, max_records, wait)

    async def _idle_poll(
        self, consumer: AIOKafkaConsumer, max_records: int, wait_ms: int
    ) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        """Paused until woken, or until the max wait passed and the broker's end offsets show
        records not taken yet (one ListOffsets request, not a chain of fetches); then busy again.
        A shorter wait (the caller's deadline) that passes unwoken asks the broker nothing."""
        consumer.pause(*consumer.assignment())  # also partitions assigned since the last pause
        if not await self._sleep(wait_ms / 1000):
            if wait_ms < self.pacing.max_wait_ms or not await self._behind(consumer):
                return []
        if self.wake is not None:
            self.wake.clear()  # announcements after this wake the next idle wait at once
        self._resumed_at_ms = int(time.time() * 1000)
        consumer.resume(*consumer.paused())
        self._idle = False
        self._last_records = time.monotonic()
        records = await self._fetch(consumer, self.pacing.busy_poll_ms, max_records)
        if records:
            await self._rest_if_caught_up(consumer)
            await self._report_lag(consumer)
        return records

    async def _rest_if_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        """With announced topics (``FetchPacing.announced``): records were just taken; if they
        were all there is, pause now and wait for the next announcement (:meth:`_idle_poll`).

        Only after records: then no fetch is in flight (aiokafka's fetcher has one per broker and
        sends the next only once the records are taken), and the pause comes before anything
        awaits, so it sends none. An empty poll leaves a fetch in flight whose answer, built
        before a batch was acknowledged, could come after the wake-up for that batch and pass
        for fresh: after one the consumer fetches on as before (``idle_after_seconds``). "All
        there is" is judged by responses taken after the last resume (each partition's high
        watermark and when it was fetched), and the wake-up is cleared before that resume: a
        batch acknowledged before the clear is in those responses (or its position is behind
        them), one acknowledged after it sets the wake-up again. A response taken before the
        resume proves nothing: then fetch on. (A fetch in flight across a pause after
        ``idle_after_seconds`` and a resume within its wait can still be believed: the
        end-offset check every max wait finds what it missed.)"""
        if not self.pacing.announced or self.wake is None or self.pacing.broker_answers_early:
            return
        partitions = consumer.assignment()
        consumer.pause(*partitions)
        try:
            for tp in partitions:
                high, fetched = consumer.highwater(tp), consumer.last_poll_timestamp(tp)
                if high is None or fetched is None or fetched <= self._resumed_at_ms:
                    break
                if await consumer.position(tp) < high:
                    break
            else:
                self._idle = True
                self.rests += 1
                return
        except Exception:  # revoked meanwhile: fetch on, the ordinary path takes it from here
            pass
        consumer.resume(*consumer.paused())

    async def _behind(self, consumer: AIOKafkaConsumer) -> bool:
        """True if a paused partition has records the consumer has not taken (or is new to it)."""
        partitions = sorted(consumer.assignment())
        if not partitions:
            return False
        try:
            if any(consumer.highwater(tp) is None for tp in partitions):
                return True  # assigned while idle: never fetched
            ends = await consumer.end_offsets(partitions)
            lags = {tp: max(int(end) - int(await consumer.position(tp)), 0) for tp, end in ends.items()}
        except Exception:  # a rebalance or the broker away: the ordinary path takes it from here
            return True
        self._set_lag(lags)
        return any(lags.values())

    async def _sleep(self, timeout: float) -> bool:
        if self.wake is None:
            await asyncio.sleep(timeout)
            return False
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
            return True
        except TimeoutError:
            return False

    @staticmethod
    async def _fetch(consumer: AIOKafkaConsumer, timeout_ms: int, max_records: int) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [r for part in batches.values() for r in part]

    async def _report_lag(self, consumer: AIOKafkaConsumer, *, force: bool = False) -> None:
        """``branchcare_consumer_lag_records`` per assigned partition, about once a second."""
        now = time.monotonic()
        if not force and now - self._lag_at < LAG_EVERY_SECONDS:
            return
        lags: dict[TopicPartition, int] = {}
        for tp in sorted(consumer.assignment()):
            lag = await _lag(consumer, tp)
            if lag is not None:
                lags[tp] = lag
        self._set_lag(lags)

    def _set_lag(self, lags: dict[TopicPartition, int]) -> None:
        self._lag_at = time.monotonic()
        seen = {(tp.topic, str(tp.partition)) for tp in lags}
        for tp, lag in lags.items():
            CONSUMER_LAG.labels(self.service, self.group, tp.topic, str(tp.partition)).set(lag)
        for labels in self._lag_labels - seen:  # revoked by a rebalance: another member reports it
            CONSUMER_LAG.remove(self.service, self.group, *labels)
        self._lag_labels = seen


async def _lag(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The partition's high watermark at the last fetch minus the consumer's position."""
    try:
        highwater = consumer.highwater(tp)
        if highwater is None:  # not fetched yet: the position may not be known either
            return None
        return max(int(highwater) - int(await consumer.position(tp)), 0)
    except Exception:  # revoked meanwhile
        return None
