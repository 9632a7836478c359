"""Estimated wait per line, from recent service times. Pure arithmetic, unit-tested for sanity.

A newcomer waits until everyone ahead of them is served and a counter is free. With ``c`` counters
serving the line, ``b`` of them busy, ``w`` customers waiting and a mean service time ``s``:

    estimate = max(0, w + b - c + 1) / c × s         (rounded to seconds)

- nobody waiting and a counter free → 0;
- one counter, all busy, nobody waiting → s (wait for the one being served);
- monotonic: more waiting or busier counters never shorten it, more counters never lengthen it.

A counter in service has on average half a service left; the formula takes the whole one, which
errs on the safe side (customers prefer a pleasant surprise).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from statistics import fmean

#: service times outside these bounds are data errors (a counter left "in service" overnight)
MIN_SERVICE = timedelta(seconds=30)
MAX_SERVICE = timedelta(hours=2)


def mean_service_time(recent: Sequence[float], default: timedelta) -> timedelta:
    """Mean of the recent service times (seconds) that are plausible, else the line's default."""
    usable = [s for s in recent if MIN_SERVICE.total_seconds() <= s <= MAX_SERVICE.total_seconds()]
    if not usable:
        return default
    return timedelta(seconds=fmean(usable))


def estimated_wait(*, waiting: int, busy: int, counters: int, service_time: timedelta) -> timedelta:
    """Expected wait of a customer joining the line now."""
    if waiting < 0 or busy < 0:
        raise ValueError("waiting and busy cannot be negative")
    counters = max(counters, busy, 1)
    ahead = max(0, waiting + busy - counters + 1)
    return timedelta(seconds=round(ahead / counters * service_time.total_seconds()))
