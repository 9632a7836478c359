"""The faults, one at a time, each done from outside the way an operator would meet it.

Each returns a :class:`Window`: when the fault began, when it ended (the part is back), and the
moment a restarted service was started again (from which "first 201 after restart" counts).
Blocking steps that take seconds (PostgreSQL's ``pg_ctl``) run in a thread so the load goes on;
processes that must die with this one (broker, services) are spawned from the main thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx

from bench.chaos.stack import ChaosStack
from shared.devstack import ensure_database


@dataclass
class Timing:
    warm: float  # load before the fault
    after: float  # load after the fault ended
    settle: float  # longest wait for everything acknowledged to arrive everywhere
    pause: float  # broker paused (SIGSTOP) while a service restarts
    hold: float  # the foreign transaction's duration


QUICK = Timing(warm=3, after=4, settle=30, pause=8, hold=8)
FULL = Timing(warm=10, after=15, settle=60, pause=20, hold=30)


@dataclass
class Window:
    began: float
    ended: float
    restarted: float | None = None  # a killed service was started again at this moment
    service: str | None = None  # ... this one (its kind of request is timed)
    note: str = ""


Fault = Callable[[ChaosStack, Timing], Awaitable[Window]]


async def broker_restart(stack: ChaosStack, timing: Timing) -> Window:
    """SIGKILL the broker, start it again on the same port: empty (memory storage)."""
    began = time.monotonic()
    stack.broker.kill()
    await asyncio.sleep(1.0)
    stack.broker._spawn(15.0)  # main thread: the broker dies with this process
    return Window(began, time.monotonic(), note="topics not re-created by the run")


async def complaint_restart(stack: ChaosStack, timing: Timing) -> Window:
    svc = stack.services["complaint"]
    began = time.monotonic()
    svc.kill()
    restarted = time.monotonic()
    svc._spawn()
    await _healthy(svc.url)
    return Window(began, time.monotonic(), restarted, "complaint")


async def restart_during_broker_pause(stack: ChaosStack, timing: Timing) -> Window:
    """SIGSTOP the broker; 2 s later kill and start the complaint service; SIGCONT at the end."""
    svc = stack.services["complaint"]
    began = time.monotonic()
    stack.broker.pause()
    try:
        await asyncio.sleep(2.0)
        svc.kill()
        restarted = time.monotonic()
        svc._spawn()
        await asyncio.sleep(max(0.0, began + timing.pause - time.monotonic()))
    finally:
        stack.broker.resume()
    resumed = time.monotonic()
    return Window(
        began, resumed, restarted, "complaint", f"broker back {resumed - restarted:.1f} s after restart"
    )


async def hq_restart(stack: ChaosStack, timing: Timing) -> Window:
    svc = stack.services["hq"]
    began = time.monotonic()
    svc.kill()
    restarted = time.monotonic()
    svc._spawn()
    await _healthy(svc.url)
    return Window(began, restarted, None, None, f"HQ /health after {time.monotonic() - restarted:.1f} s")


async def foreign_transaction(stack: ChaosStack, timing: Timing) -> Window:
    """A transaction with an id, open ``hold`` seconds, in another database of the same server."""
    url = await ensure_database(stack.postgres.url, "chaos_other")
    conn = await asyncpg.connect(url)
    began = time.monotonic()
    try:
        async with conn.transaction():
            await conn.fetchval("SELECT pg_current_xact_id()")
            await asyncio.sleep(timing.hold)
    finally:
        await conn.close()
    return Window(began, time.monotonic(), note=f"{timing.hold:.0f} s transaction in database chaos_other")


async def postgres_restart(stack: ChaosStack, timing: Timing) -> Window:
    began = time.monotonic()
    await asyncio.to_thread(stack.restart_postgres)
    return Window(began, time.monotonic())


FAULTS: dict[str, Fault] = {
    "broker_restart": broker_restart,
    "complaint_restart": complaint_restart,
    "restart_in_broker_pause": restart_during_broker_pause,
    "hq_restart": hq_restart,
    "foreign_tx": foreign_transaction,
    "postgres_restart": postgres_restart,
}


async def _healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
