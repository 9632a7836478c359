"""Stopping a service within a bound: every step of the shutdown gets at most its own share and
never more than what is left of one budget, and a step that overruns is abandoned with a warning.

Why a bound: a Kafka client's ``stop()`` can wait on a group coordinator that no longer exists
(the broker restarted empty: aiokafka retries "coordinator known?" and a consumer's graceful
stop waits for in-flight handlers), and the orchestrator's SIGKILL after its grace period would
then cut the relay's last drain and the pool's clean close as well. Abandoning a Kafka step loses
nothing: consumers' progress is in PostgreSQL (per-stream positions, applied idempotently again
after a restart) and the relay republishes from its saved position. The budget stays below the
grace a supervisor gives (tests: 15 s; Kubernetes: 30 s by default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

log = logging.getLogger(__name__)

#: the whole lifespan shutdown (after uvicorn has closed HTTP): below a supervisor's 15 s grace
BUDGET_SECONDS = 11.0


class Shutdown:
    """One service's shutdown: ``await shutdown.step("relay", relay.stop(task), at_most=6)``."""

    def __init__(self, service: str, budget: float = BUDGET_SECONDS) -> None:
        self.service = service
        self._deadline = time.monotonic() + budget

    def left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    async def step(self, name: str, action: Awaitable[object], *, at_most: float) -> bool:
        """Run one step; ``False`` when it failed or overran (it is then cancelled and skipped)."""
        allowed = min(at_most, self.left())
        started = time.monotonic()
        try:
            await asyncio.wait_for(action, timeout=max(allowed, 0.01))
        except TimeoutError:
            log.warning(
                "%s shutdown: %s did not finish within %.1f s; going on without it",
                self.service,
                name,
                allowed,
            )
            return False
        except Exception as exc:  # a failing step must not keep the others from running
            log.warning("%s shutdown: %s failed (%r); going on", self.service, name, exc)
            return False
        log.debug("%s shutdown: %s took %.2f s", self.service, name, time.monotonic() - started)
        return True
