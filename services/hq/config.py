"""HQ's own settings (environment ``HQ_*``), on top of the shared service settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REGIONS_FILE = Path(__file__).parent / "regions.toml"


class HqConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HQ_", extra="ignore")

    #: branches → regions (see regions.toml); a bank points this at its own file
    regions_file: Path = DEFAULT_REGIONS_FILE
    #: the satisfaction target (share of 4–5 answers), 95 % by the service manual
    satisfaction_target: float = Field(default=0.95, ge=0, le=1)

    #: a category spike: complaints of one category from this many distinct branches ...
    crisis_min_branches: int = Field(default=5, ge=2)
    #: ... within a window of this length (by the complaints' receipt time)
    crisis_window_minutes: int = Field(default=60, ge=1)
    #: the window slides in steps of this size (windows are aligned to it); divides the window
    crisis_slot_minutes: int = Field(default=5, ge=1)
    #: categories watched for spikes (empty: every category)
    crisis_categories: list[str] = Field(default_factory=list)

    #: the same customer_ref complaining in this many distinct branches ...
    repeat_min_branches: int = Field(default=2, ge=2)
    #: ... within this many days
    repeat_window_days: int = Field(default=30, ge=1)

    #: alerts whose window ended longer ago than this are listed but not published (e.g. found
    #: again by a rebuild after a change of thresholds): nobody can act on them any more
    publish_max_age_hours: float = Field(default=48.0, gt=0)

    #: the consumer's batch (records per read-model transaction)
    max_batch: int = Field(default=20_000, ge=1, le=100_000)
    #: how often region-level gauges are recomputed from the read model
    metrics_refresh_seconds: float = Field(default=10.0, gt=0)
    #: how often the consumer looks for a rebuild requested elsewhere (CLI, another replica)
    generation_poll_seconds: float = Field(default=1.0, gt=0)

    def slots_per_window(self) -> int:
        return max(1, self.crisis_window_minutes // self.crisis_slot_minutes)


def load_config() -> HqConfig:
    return HqConfig()
