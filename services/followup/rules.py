"""Which follow-up tasks other contexts' events create: :mod:`services.followup.decider.rules`
(re-exported here for the modules that import it from its former place)."""

from services.followup.decider.rules import (
    PROGRESS_SLA,
    REGULATORY_SLA,
    VERIFICATION_SLA,
    RuleConfig,
    TaskRules,
    staff_owner,
)

__all__ = ["PROGRESS_SLA", "REGULATORY_SLA", "VERIFICATION_SLA", "RuleConfig", "TaskRules", "staff_owner"]
