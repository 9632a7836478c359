"""shared.periodic: a failing round is logged and retried later, never fatal; stop and cancel end it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.periodic import every, next_wait


def test_the_wait_doubles_while_rounds_fail_and_is_capped() -> None:
    waits = [next_wait(1.0, failures, max_backoff=10.0, jitter=0) for failures in range(6)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_long_period_is_never_shortened_by_the_cap() -> None:
    assert next_wait(60.0, 3, max_backoff=10.0, jitter=0) == 60.0


def test_jitter_stays_within_its_share() -> None:
    waits = {next_wait(10.0, 0, jitter=0.1) for _ in range(200)}
    assert all(9.0 <= w <= 11.0 for w in waits) and len(waits) > 1


async def test_a_failing_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    stop = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database down")
        if len(rounds) == 3:
            stop.set()

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(every(0.01, work, name="test work", stop=stop, jitter=0), timeout=5)
    assert len(rounds) == 3
    assert any("test work failed; retrying" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_cancelling_stops_it_at_once() -> None:
    started = asyncio.Event()

    async def work() -> None:
        started.set()

    task = asyncio.create_task(every(3600, work, name="idle"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
