"""Periodic background work: one loop for every "do this every N seconds" a service runs.

SLA schedulers, gauge refreshers and dispatchers all need the same things, and each used to write
them by hand: run now, then every ``period`` seconds; a failed round is logged with its traceback
and never ends the task; cancellation (the runner's shutdown) stops it at once, and so does an
optional ``stop`` event. On top of that the shared loop

- **backs off** while rounds keep failing (the database is down): the wait doubles from
  ``period`` up to ``max_backoff`` (never below ``period``) and falls back to ``period`` after the
  first good round, so an outage is not met with a stack trace per second per replica;
- **jitters** each wait by up to ±``jitter`` of itself, so replicas started together do not query
  in lockstep forever.

``period`` may be a callable, read before every wait, for work whose period is a setting that can
change while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

#: the longest wait between failing rounds, unless the period itself is longer
MAX_BACKOFF_SECONDS = 10.0


async def every(
    period: float | Callable[[], float],
    work: Callable[[], Awaitable[object]],
    *,
    name: str,
    logger: logging.Logger | None = None,
    jitter: float = 0.1,
    max_backoff: float = MAX_BACKOFF_SECONDS,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``work`` now and then every ``period`` seconds until cancelled or ``stop`` is set.

    A failure is logged as ``"<name> failed; retrying in <s> s"`` on ``logger`` (default: this
    module's) and the next round comes after a doubled wait (see the module docstring)."""
    logger = logger or log
    failures = 0
    while stop is None or not stop.is_set():
        error: Exception | None = None
        try:
            await work()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures, error = failures + 1, exc
        base = period() if callable(period) else period
        wait = next_wait(base, failures, max_backoff=max_backoff, jitter=jitter)
        if error is not None:
            logger.error("%s failed; retrying in %.1f s", name, wait, exc_info=error)
        if stop is None:
            await asyncio.sleep(wait)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)


def next_wait(
    period: float, failures: int, *, max_backoff: float = MAX_BACKOFF_SECONDS, jitter: float = 0.1
) -> float:
    """The wait before the next round: ``period`` after a good round, doubling per failure in a row
    up to ``max(period, max_backoff)``; then jittered by up to ±``jitter`` of itself."""
    wait = period if failures == 0 else min(period * 2 ** min(failures, 32), max(period, max_backoff))
    return max(0.0, wait * (1 + random.uniform(-jitter, jitter)))
