"""Deadlines: an SLA at risk or breached (from the scheduler), the regulatory limit extended."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.complaint.commands import ExtendRegulatoryDeadline, RecordSlaAtRisk, RecordSlaBreached, SlaFacts
from services.complaint.decider.case import Deciding, automatic_escalation, next_level
from services.complaint.decider.regulatory import extend_under_profile, may_extend_under_profile
from services.complaint.state import REGULATORY_SLA, RESOLVE_SLA, Status
from shared.contracts.complaint import EscalationCause, RegulatoryDeadlineExtended
from shared.contracts.sla import SlaAtRisk, SlaBreached
from shared.decider import DomainError
from shared.registry import EventData


def milestone(used_fraction: float) -> str:
    """The scheduler's name of an at-risk milestone, e.g. ``at_risk:0.8``."""
    return f"at_risk:{used_fraction:g}"


def sla_fields(cid: UUID, facts: SlaFacts) -> dict[str, Any]:
    return {
        "deadline_id": facts.deadline_id,
        "sla": facts.sla,
        "policy": facts.policy,
        "subject_type": "complaint",
        "subject_id": str(cid),
        "started_at": facts.started_at,
        "due_at": facts.due_at,
        "rule": facts.rule[:300],
    }


def at_risk(case: Deciding, command: RecordSlaAtRisk) -> list[EventData]:
    facts, reg = command.deadline, case.reg
    if (facts.deadline_id, facts.sla, milestone(command.used_fraction)) in case.state.sla_fired:
        raise DomainError(f"{facts.sla} was already recorded as at risk")
    return [
        SlaAtRisk(at=command.at, used_fraction=command.used_fraction, **sla_fields(case.cid, facts)),
        *(reg.milestone(case.state, case.cid, command) if reg else []),
    ]


def breached(case: Deciding, command: RecordSlaBreached) -> list[EventData]:
    state, facts = case.state, command.deadline
    if (facts.deadline_id, facts.sla, "breached") in state.sla_fired:
        raise DomainError(f"{facts.sla} was already recorded as breached")
    events: list[EventData] = [SlaBreached(at=command.at, **sla_fields(case.cid, facts))]
    upper = next_level(state.level)
    if facts.sla == RESOLVE_SLA and case.rules.escalate_on_resolve_breach and upper is not None:
        events.append(automatic_escalation(case, upper, [EscalationCause.resolve_breached], command.at))
    return events


def may_extend(case: Deciding, command: ExtendRegulatoryDeadline) -> None:
    """The refusals of :func:`extend`, without its event."""
    if case.reg is not None:
        may_extend_under_profile(case, command)
        return
    state, rules = case.state, case.rules
    if state.status is Status.answered:
        raise DomainError("cannot extend the regulatory deadline: the customer already has the decision")
    if state.regulatory_extensions >= rules.max_regulatory_extensions:
        raise DomainError(
            f"cannot extend the regulatory deadline again: it was already extended to "
            f"{state.regulatory_limit_days} days in this cycle; a further extension needs approval"
        )
    if REGULATORY_SLA in state.breached_slas:
        raise DomainError(
            f"cannot extend the regulatory deadline: the {rules.regulatory_limit_days}-day limit "
            "has already passed"
        )


def extend(case: Deciding, command: ExtendRegulatoryDeadline) -> list[EventData]:
    """Once, with a reason, before the limit passed; a profile's own steps when the case has one."""
    if case.reg is not None:
        return extend_under_profile(case, command)
    may_extend(case, command)
    state, rules = case.state, case.rules
    extension = state.regulatory_extensions + 1
    limit = rules.regulatory_extended_days
    return [case.record(RegulatoryDeadlineExtended, command, limit_days=limit, extension=extension)]
