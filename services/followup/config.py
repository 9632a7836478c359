"""The follow-up service's own settings (``FOLLOWUP_*`` environment variables)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.followup.decider.rules import RuleConfig
from shared.sla.policy import parse_duration

_DEFAULTS = RuleConfig()


class FollowupSettings(BaseSettings):
    """Durations no SLA policy defines, written like ``24h``, ``30d``, ``1h30m``."""

    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore", env_ignore_empty=True)

    #: service recovery after negative feedback is due within this
    recovery_within: timedelta = _DEFAULTS.recovery_within
    #: a complainant waiting on the case is told where it stands within this
    inform_within: timedelta = _DEFAULTS.inform_within
    #: a remediation action promised at close is due within this
    remediation_within: timedelta = _DEFAULTS.remediation_within
    #: tasks whose decoded stream each process keeps, by version (``shared.stream_cache``): a
    #: staff command's load then decodes only the events it has not seen; a few KB a task
    stream_cache_size: int = 4096

    @field_validator("recovery_within", "inform_within", "remediation_within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    def rules(self) -> RuleConfig:
        return RuleConfig(
            recovery_within=self.recovery_within,
            inform_within=self.inform_within,
            remediation_within=self.remediation_within,
        )
