"""Cross-branch patterns: a category spiking across branches (crisis suspected) and the same
customer complaining in several branches.

Both are defined on the set of complaints, not on the order they arrive in, so the live read model
and one rebuilt from the topics agree:

- **spike**: windows of ``window`` length, aligned to ``slot`` steps, over the receipt time of
  classified complaints; a window with complaints of one category from ``min_branches`` distinct
  branches *triggers*. Adding complaints only ever adds triggering windows, so each window is
  evaluated until it triggers and never again. Triggering windows are stored per category and
  window-length bucket of their start (``spike:<category>:<bucket>``) with the min start / max end
  of their windows; a spike running across a bucket boundary is two adjacent rows that the API
  merges into one episode, and that are published as one event (see :func:`overlaps`).
- **repeat complainant**: a customer's complaints sorted by receipt form episodes (each complaint at
  most ``window_days`` after the previous one); an episode with complaints in ``min_branches``
  distinct branches is an alert (``repeat:<customer_ref>:<first day>``), recomputed from all the
  customer's complaints whenever one arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5


def floor_time(at: datetime, step: timedelta) -> datetime:
    """``at`` rounded down to a multiple of ``step`` since the epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((at - epoch).total_seconds())
    step_s = int(step.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % step_s)


#: namespace of alert ids (never change: ids must stay stable across rebuilds)
ALERT_NAMESPACE = UUID("5b0f7a52-3c1d-4e7b-9a1f-2d6c8e4b7a10")
MAX_BRANCH_IDS = 50


def alert_id(alert_key: str) -> UUID:
    return uuid5(ALERT_NAMESPACE, alert_key)


def alert_stream(alert_key: str) -> str:
    return f"alert-{alert_id(alert_key)}"


# ------------------------------------------------------------------------------------ spikes


def candidate_windows(
    affected: Iterable[tuple[str, datetime]], slot: timedelta, slots_per_window: int
) -> list[tuple[str, datetime]]:
    """Every window (category, start) that contains one of the ``affected`` (category, slot)s."""
    out: set[tuple[str, datetime]] = set()
    for category, slot_start in affected:
        for k in range(slots_per_window):
            out.add((category, slot_start - k * slot))
    return sorted(out)


def spike_key(category: str, window_start: datetime, window: timedelta) -> str:
    return f"spike:{category}:{floor_time(window_start, window):%Y%m%dT%H%M}"


@dataclass(frozen=True)
class Trigger:
    """A window that crossed the threshold when it was first evaluated."""

    category: str
    start: datetime
    end: datetime
    branches: int
    complaints: int
    branch_ids: tuple[str, ...]


@dataclass
class SpikeRow:
    alert_key: str
    category: str
    window_start: datetime
    window_end: datetime
    #: the earliest trigger of the batch in this row (what a published event reports)
    first: Trigger


def spike_rows(triggers: Iterable[Trigger], window: timedelta) -> dict[str, SpikeRow]:
    """Triggering windows → one row per key (min start, max end)."""
    rows: dict[str, SpikeRow] = {}
    for t in sorted(triggers, key=lambda t: (t.category, t.start)):
        key = spike_key(t.category, t.start, window)
        row = rows.get(key)
        if row is None:
            rows[key] = SpikeRow(key, t.category, t.start, t.end, t)
        else:
            row.window_start = min(row.window_start, t.start)
            row.window_end = max(row.window_end, t.end)
    return rows


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Two spans overlap or touch (a spike continuing into the next bucket does)."""
    return a_start <= b_end and b_start <= a_end


@dataclass
class Episode:
    """Adjacent spike rows of one category, merged for display."""

    alert_key: str
    category: str
    window_start: datetime
    window_end: datetime
    keys: list[str] = field(default_factory=list)


def merge_episodes(rows: Sequence[dict[str, Any]]) -> list[Episode]:
    """Spike rows (alert_key, category, window_start, window_end) → episodes of overlapping rows;
    an episode is named by its earliest row."""
    episodes: list[Episode] = []
    ordered = sorted(rows, key=lambda r: (r["category"], r["window_start"], r["alert_key"]))
    for r in ordered:
        last = episodes[-1] if episodes else None
        if (
            last is not None
            and last.category == r["category"]
            and overlaps(last.window_start, last.window_end, r["window_start"], r["window_end"])
        ):
            last.window_end = max(last.window_end, r["window_end"])
            last.keys.append(r["alert_key"])
        else:
            episodes.append(
                Episode(r["alert_key"], r["category"], r["window_start"], r["window_end"], [r["alert_key"]])
            )
    return episodes


# ------------------------------------------------------------------------ repeat complainants


@dataclass
class RepeatRow:
    alert_key: str
    customer_ref: str
    first_at: datetime
    last_at: datetime
    branches: int
    complaints: int
    branch_ids: list[str]


def repeat_episodes(
    complaints: Iterable[tuple[str, str, datetime]], window: timedelta, min_branches: int
) -> list[RepeatRow]:
    """(customer_ref, branch_id, received_at) → a row per episode that spans enough branches."""
    by_ref: dict[str, list[tuple[datetime, str]]] = {}
    for ref, branch, at in complaints:
        by_ref.setdefault(ref, []).append((at, branch))
    out: list[RepeatRow] = []
    for ref, items in sorted(by_ref.items()):
        items.sort()
        episodes: list[list[tuple[datetime, str]]] = []
        for at, branch in items:
            if episodes and at - episodes[-1][-1][0] <= window:
                episodes[-1].append((at, branch))
            else:
                episodes.append([(at, branch)])
        for episode in episodes:
            branches = sorted({b for _, b in episode})
            if len(branches) >= min_branches:
                first, last = episode[0][0], episode[-1][0]
                out.append(
                    RepeatRow(
                        alert_key=f"repeat:{ref}:{first:%Y%m%d}",
                        customer_ref=ref,
                        first_at=first,
                        last_at=last,
                        branches=len(branches),
                        complaints=len(episode),
                        branch_ids=branches[:MAX_BRANCH_IDS],
                    )
                )
    return out
