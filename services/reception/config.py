"""The reception service's own settings (``RECEPTION_*`` environment variables)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ReceptionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECEPTION_", extra="ignore", env_ignore_empty=True)

    #: how often the SLA scheduler looks for due deadlines (tests set long periods and tick by hand)
    scheduler_period_seconds: float = 1.0
    #: how often the lobby gauges are refreshed
    gauge_period_seconds: float = 5.0
    #: a bank's own catalogue of service lines and required documents (default ``catalogue.toml``)
    catalogue_file: str | None = None
