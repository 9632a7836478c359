"""The shutdown budget (shared.shutdown): a step that hangs is abandoned after its share, one that
fails does not stop the next, and all of them together never take longer than the budget."""

from __future__ import annotations

import asyncio
import time

from shared.shutdown import Shutdown


async def _hang() -> None:
    await asyncio.Event().wait()


async def _fail() -> None:
    raise RuntimeError("coordinator gone")


async def test_a_hanging_step_is_abandoned_after_its_share() -> None:
    shutdown = Shutdown("svc", budget=5)
    started = time.monotonic()
    assert await shutdown.step("consumers", _hang(), at_most=0.1) is False
    assert time.monotonic() - started < 1


async def test_a_failing_step_does_not_stop_the_next() -> None:
    shutdown = Shutdown("svc", budget=5)
    done: list[str] = []

    async def close() -> None:
        done.append("pool")

    assert await shutdown.step("producer", _fail(), at_most=1) is False
    assert await shutdown.step("pool", close(), at_most=1) is True
    assert done == ["pool"]


async def test_the_budget_bounds_all_steps_together() -> None:
    shutdown = Shutdown("svc", budget=0.3)
    started = time.monotonic()
    for name in ("consumers", "relay", "producer"):
        await shutdown.step(name, _hang(), at_most=10)
    assert time.monotonic() - started < 1
    assert shutdown.left() == 0
