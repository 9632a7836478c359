"""The live line: simulated time, requests/s, errors and conflicts, what each service got; each
warning and each distinct error (with the service's response) printed once above it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from services.simulator.client import SERVICES, Stats


def line(stats: Stats, sim_now: datetime, rate: float, hq: str = "") -> str:
    per_service = " ".join(f"{s[:4]} {stats.requests[s]}" for s in SERVICES if stats.requests[s])
    done = stats.done
    story = (
        f"visits {done['visits']} served {done['served']} complaints {done['complaints']} "
        f"closed {done['closed']} surveys {done['surveys']}"
    )
    errors = sum(stats.errors.values())
    conflicts = sum(stats.conflicts.values())
    parts = [
        f"sim {sim_now:%a %H:%M}",
        f"{rate:6.1f} req/s",
        f"errors {errors} conflicts {conflicts}",
        per_service or "no requests",
        story,
    ]
    if hq:
        parts.append(hq)
    return " | ".join(parts)


async def show(
    stats: Stats,
    sim_now: Callable[[], datetime],
    hq_note: Callable[[], str],
    *,
    out: TextIO = sys.stderr,
    every: float = 1.0,
) -> None:
    """Redraw one line every ``every`` s on a terminal; print a line every 10 s otherwise."""
    tty = out.isatty()
    last_total, last_time, last_print = stats.total, time.monotonic(), 0.0
    warned = failed = 0
    while True:
        await asyncio.sleep(every)
        now = time.monotonic()
        rate = (stats.total - last_total) / max(now - last_time, 1e-6)
        last_total, last_time = stats.total, now
        while warned < len(stats.warnings):
            out.write(("\r\033[K" if tty else "") + f"warning: {stats.warnings[warned]}\n")
            warned += 1
        failures = list(stats.failures.values())
        while failed < len(failures):
            out.write(("\r\033[K" if tty else "") + f"error: {failures[failed].message}\n")
            failed += 1
        text = line(stats, sim_now(), rate, hq_note())
        if tty:
            out.write("\r\033[K" + text[:200])
            out.flush()
        elif now - last_print >= 10:
            out.write(text + "\n")
            out.flush()
            last_print = now
