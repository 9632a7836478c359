"""The aggregator's consumer: short batches for the case records, one KPI delta per window.

The shared :class:`~shared.batch_consumer.BatchConsumer` runs the loop and the
:class:`~shared.projection.ProjectionRunner` does the work (decode, dead-letter, exactly-once apply
with ``projection_positions``, offsets committed only after the batch's transaction and never past
a gap). What is the aggregator's own:

- a batch is what one poll gives (``HQFEED_CASE_LINGER_MS``, default 0: or what comes within that
  long of its first record), at most ``max_batch`` records, and is folded at once: its complaint
  snapshots, remediation actions and merges go out in its transaction, and the relay publishes
  them without pacing its rounds (one commit per batch), so a case reaches HQ within tens of
  milliseconds;
- its KPI deltas are held in ``pending_deltas`` (same transaction), and when the window
  (``HQFEED_WINDOW_SECONDS``, from the first held delta) closes, one transaction publishes each
  active branch's merge: still at most one KPI delta per branch per window, so HQ's input keeps
  growing with branches × time, not with every branch event. The poll never waits past that
  moment, records or not.

A linger at least as long as the window folds one batch per window and publishes everything
together, as before this split.

Against a broker that holds fetches (the embedded one) the consumer rests once it has taken all
there is, until a relay announces one of its topics (``shared.fetch_pacing``, ``announced``): it
fetched ~50 times a second at 100 creates/s, most fetches empty, a sixth of the broker's requests.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Histogram

from services.hqfeed.config import FeedConfig
from services.hqfeed.projection import HqFeed
from shared.batch_consumer import BatchConsumer, Hooks, Records
from shared.runner import ServiceContext

log = logging.getLogger(__name__)

#: records per folded batch: with the batch count, how well the fixed per-batch costs are shared
BATCH_RECORDS = Histogram(
    "branchcare_hqfeed_batch_records",
    "Domain events per batch folded by the HQ feed",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)


class WindowFlush(Hooks):
    """Closes the KPI window: :meth:`on_due` publishes the held deltas."""

    def __init__(self, ctx: ServiceContext, feed: HqFeed, window_seconds: float) -> None:
        self.ctx = ctx
        self.feed = feed
        self.window_seconds = window_seconds
        #: when the open window closes; at start-up at once (deltas held before a restart)
        self.closes_at: float | None = time.monotonic()

    def after_batch(self, records: Records, *, polled_at: float, seconds: float, rebuilding: bool) -> None:
        BATCH_RECORDS.observe(len(records))
        if self.feed.pending and self.closes_at is None:
            self.closes_at = polled_at + self.window_seconds  # the window opened with its first record

    def due_at(self) -> float | None:
        return self.closes_at

    async def on_due(self) -> None:
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            published = await self.feed.flush(conn)
        self.closes_at = None
        if published:
            self.ctx.store.notifier.poke()  # the KPI deltas are committed: wake the relay


class FeedConsumer(BatchConsumer):
    def __init__(self, ctx: ServiceContext, projection: HqFeed, config: FeedConfig) -> None:
        projection.hold_kpis = config.holds_kpis
        super().__init__(
            ctx,
            projection,
            max_batch=config.max_batch,
            linger_seconds=config.case_linger_ms / 1000 if config.holds_kpis else config.window_seconds,
            on_commit=ctx.store.notifier.poke,  # the contract events are committed: wake the relay
            # also without holding: deltas held before a restart under other settings go out
            hooks=WindowFlush(ctx, projection, config.window_seconds),
            # every relay announces each batch when the broker holds fetches (shared/runner.py):
            # rest between them instead of fetching 24 partitions on every 10 ms
            announced=True,
        )
        self.config = config
