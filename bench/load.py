"""Offering load: closed loop (a fixed number of connections, each sends as soon as answered) and
open loop (request i is due at ``start + i / rate`` whether or not earlier ones were answered, so
a slow system cannot slow the load down and hide its own latency)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.stats import percentile, progress

#: an open-loop run stops offering once this many seconds of requests are outstanding: the
#: system is saturated and piling up more would only measure the queue
MAX_BACKLOG_SECONDS = 2.0
#: how long an open-loop run waits for the answers still outstanding after its last request
DRAIN_SECONDS = 15.0

#: sends request ``i``; answers its HTTP status (-1: no answer)
Send = Callable[[int], Awaitable[int]]


@dataclass
class Sample:
    index: int
    due: float
    answered: float = 0.0
    status: int = 0

    @property
    def latency(self) -> float:
        return self.answered - self.due


@dataclass
class Outcome:
    samples: list[Sample]
    elapsed: float
    saturated: bool = False

    def ok(self, status: int) -> list[Sample]:
        return [s for s in self.samples if s.status == status]

    def rate(self, status: int) -> float:
        if not self.samples or self.elapsed <= 0:
            return float("nan")
        return len(self.ok(status)) / self.elapsed

    def latency_ms(self, q: float, status: int) -> float:
        return percentile([s.latency for s in self.ok(status)], q) * 1000


async def _one(send: Send, sample: Sample) -> None:
    try:
        sample.status = await send(sample.index)
    except Exception:
        sample.status = -1
    except asyncio.CancelledError:
        sample.status = -1
        raise
    finally:
        sample.answered = time.monotonic()


async def closed_loop(
    send: Send, *, requests: int, connections: int, first: int = 0, seconds: float = math.inf
) -> Outcome:
    """``requests`` requests (indices ``first``…) over ``connections`` workers, back to back; no
    new request after ``seconds`` (a slow system is measured in bounded time)."""
    samples: list[Sample] = []
    next_index = first
    end = first + requests
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < end and time.monotonic() < stop:
            sample = Sample(next_index, time.monotonic())
            next_index += 1
            samples.append(sample)
            await _one(send, sample)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Outcome(samples, time.monotonic() - started)


async def open_loop(
    send: Send, *, rate: float, seconds: float, first: int = 0, drain: float = DRAIN_SECONDS
) -> Outcome:
    """``rate`` requests per second for ``seconds``, each sent at its due time; waits for the
    answers, at most ``drain`` seconds after the last was sent (the rest count as unanswered)."""
    total = int(rate * seconds)
    samples: list[Sample] = []
    tasks: list[asyncio.Task[None]] = []
    outstanding = 0
    saturated = False

    async def one(sample: Sample) -> None:
        nonlocal outstanding
        try:
            await _one(send, sample)
        finally:
            outstanding -= 1

    start = time.monotonic() + 0.05
    for i in range(total):
        sample = Sample(first + i, start + i / rate)
        delay = sample.due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if outstanding > rate * MAX_BACKLOG_SECONDS:
            progress(f"saturated: {outstanding} requests outstanding after {i} sent; stopped offering")
            saturated = True
            break
        samples.append(sample)
        outstanding += 1
        tasks.append(asyncio.create_task(one(sample)))
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=drain)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            progress(f"{len(pending)} requests unanswered {drain:.0f} s after the last was sent")
            saturated = True
    span = max((s.answered for s in samples), default=start) - start
    return Outcome(samples, span, saturated)
