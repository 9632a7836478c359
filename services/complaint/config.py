"""The complaint service's own settings (``COMPLAINT_*`` environment variables)."""

from __future__ import annotations

from datetime import timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.complaint.domain import REGULATORY_SLA, ComplaintRules
from shared.sla.policy import PolicyBook


class ComplaintSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINT_", extra="ignore")

    #: escalate to the next level at once when classified major / urgent
    escalate_on_major: bool = True
    escalate_on_urgent: bool = True
    #: escalate to the next level when the resolve deadline is breached
    escalate_on_resolve_breach: bool = True
    reopen_window_days: int = 30
    #: the regulatory limit after the one extension a case may get (15 → 30 days)
    regulatory_extended_days: int = 30
    require_root_cause_for_major: bool = True
    #: how often the deadline scheduler looks for due milestones
    scheduler_period_seconds: float = 1.0
    #: how often the complaints-by-status gauge is refreshed from the board
    gauge_period_seconds: float = 15.0
    #: name of the reactions projection; its consumer group is ``complaint.<name>`` (a new name
    #: reads the other contexts' topics from the beginning, e.g. after a rebuild)
    reactions_name: str = "reactions"

    def rules(self, book: PolicyBook) -> ComplaintRules:
        base = book.policy(REGULATORY_SLA).duration
        return ComplaintRules(
            escalate_on_major=self.escalate_on_major,
            escalate_on_urgent=self.escalate_on_urgent,
            escalate_on_resolve_breach=self.escalate_on_resolve_breach,
            reopen_window=timedelta(days=self.reopen_window_days),
            require_root_cause_for_major=self.require_root_cause_for_major,
            regulatory_limit_days=max(1, round(base / timedelta(days=1))),
            regulatory_extended_days=self.regulatory_extended_days,
        )
