"""The configurable part of the complaint lifecycle (defaults from the issues and design.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ComplaintRules:
    """The configurable part of the lifecycle (defaults from the issue and design.md)."""

    escalate_on_major: bool = True
    escalate_on_urgent: bool = True
    escalate_on_resolve_breach: bool = True
    reopen_window: timedelta = timedelta(days=30)
    #: 溯源整改: closing a major complaint needs a root cause and a remediation
    require_root_cause_for_major: bool = True
    regulatory_limit_days: int = 15
    regulatory_extended_days: int = 30
    max_regulatory_extensions: int = 1


DEFAULT_RULES = ComplaintRules()
