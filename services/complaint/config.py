"""The complaint service's own settings (``COMPLAINT_*`` environment variables)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.complaint.domain import REGULATORY_SLA, ComplaintRules
from services.complaint.regulation import DEFAULT_PROFILE, Regulation
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
    #: cases whose decoded stream each process keeps, by version (``shared.stream_cache``): a
    #: step's load then decodes only the events it has not seen; ~10 KB a case of ten events
    stream_cache_size: int = 4096
    #: name of the reactions projection; its consumer group is ``complaint.<name>`` (a new name
    #: reads the other contexts' topics from the beginning, e.g. after a rebuild)
    reactions_name: str = "reactions"
    #: the regulatory profile of every branch not named below (``profiles/<name>.toml``)
    regulatory_profile: str = DEFAULT_PROFILE
    #: branch id (or prefix ending in ``*``) → profile, as JSON: ``{"uk-*": "uk-fca", "b042": "us-cfpb"}``
    branch_profiles: dict[str, str] = {}
    #: a bank's own profile files (default: the service's ``profiles/`` folder)
    profiles_dir: Path | None = None

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

    def regulation(self, book: PolicyBook) -> Regulation:
        return Regulation.load(
            book,
            directory=self.profiles_dir,
            default_profile=self.regulatory_profile,
            branch_profiles=self.branch_profiles,
        )
