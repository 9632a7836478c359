"""Waiting for a started process's HTTP endpoint to answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx


async def wait_http_ok(
    url: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers 200.

    Raises ``TimeoutError`` after ``timeout`` seconds, or ``RuntimeError`` as soon as
    ``alive()`` returns False (e.g. the process that should serve it has exited).
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if alive is not None and not alive():
                raise RuntimeError(f"{url}: the process serving it has exited ({last})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s ({last})")
            await asyncio.sleep(interval)
