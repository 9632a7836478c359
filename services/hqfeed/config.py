"""The aggregator's settings (environment ``HQFEED_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FeedConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HQFEED_", extra="ignore")

    #: the KPI window: each branch gets at most one KPI delta per window while it is active (HQ's
    #: input volume; the freshness of HQ's KPI figures is about one window more)
    window_seconds: float = Field(default=1.0, ge=0.0, le=30.0)
    #: how long a batch collects domain events after its first one before it is folded and its case
    #: records (complaint snapshots, remediation actions, merges) published; its KPI deltas wait
    #: for the window. 0 (default): a batch is what one poll gives (what came while the previous
    #: one was folded: under load batches grow by themselves, as HQ's do). At least
    #: ``window_seconds``: one batch per window, everything together.
    case_linger_ms: float = Field(default=0.0, ge=0.0, le=30_000.0)
    #: the most domain events folded in one batch (a rebuild or a backlog reads full batches)
    max_batch: int = Field(default=5000, ge=1, le=50_000)

    @property
    def holds_kpis(self) -> bool:
        """Case records go out per (short) batch and KPI deltas wait for the window."""
        return self.case_linger_ms / 1000 < self.window_seconds
