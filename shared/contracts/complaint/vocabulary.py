"""The complaint context's vocabulary: the codes, kinds and value objects its events carry.

Its code tables are declared as every contract's are: one line each (``shared.contracts``)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts.common import StaffId
from shared.contracts.text import TextRef

__all__ = [
    "Category",
    "Channel",
    "ClockBasis",
    "ClockOutcome",
    "ClockStart",
    "Code",
    "EscalationCause",
    "HoldKind",
    "InterimKind",
    "Label",
    "Level",
    "LimitUnit",
    "MatterKey",
    "Nature",
    "Outcome",
    "ProposedSolution",
    "RemediationAction",
    "ResponseKind",
    "ReviewOutcome",
    "SlaName",
    "Urgency",
]


#: where the complaint came in
Channel = StrEnum(
    "Channel", "in_branch phone_hotline web app letter third_party_platform internal_staff survey"
)
#: what the complaint is about (the content category)
Category = StrEnum(
    "Category",
    "service_attitude process_complexity waiting_time product_defect system_failure "
    "fees_and_information_transparency communication business_restrictions personal_needs_unmet other",
)
Nature = StrEnum("Nature", "general major malicious")
Urgency = StrEnum("Urgency", "normal urgent")
Level = StrEnum("Level", "lobby_manager branch_head hq_department")
Level.__doc__ = "Escalation levels, in order; a case only ever moves up."
EscalationCause = StrEnum("EscalationCause", "major urgent resolve_breached review_requested")
EscalationCause.__doc__ = (
    "Why a case escalated by itself (never words: a decider's decision is made on codes)."
)
Outcome = StrEnum("Outcome", "upheld partially_upheld not_upheld")
Outcome.__doc__ = "What the bank decided, told to the customer in the answer."


#: a short label (source of a complaint, currency, cause code)
Label = Field(min_length=1, max_length=64)

#: a code of a configurable code table (business type, cause code) of the regulatory profile
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,32}$")]


def _masked(key: str) -> str:
    if re.search(r"\d{8}", key):
        raise ValueError("mask account, card, phone or ID numbers in a matter key (e.g. card:****1234)")
    return key


#: a key naming the matter of a complaint (e.g. ``card:****1234`` or ``fee-2026-11``): no raw PII,
#: so 8 or more digits in a row (an account, card, phone or ID number) are refused
MatterKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:*\-]{1,64}$"), AfterValidator(_masked)]
#: an SLA name, e.g. ``complaint.regulatory``
SlaName = Annotated[str, Field(pattern=r"^[a-z0-9_.\-]{1,64}$")]


LimitUnit = StrEnum("LimitUnit", "days business_days")
LimitUnit.__doc__ = "How a regulatory limit counts: calendar days, or business days of the branch's calendar."
#: - ``new_facts``: new facts or reasons from the complainant restart it from the day they arrive
#:   (cn-2020)
#: - ``review``: the complainant asked the higher level to review the decision (cn-2020)
#: - ``reclassified``: a new business type moved the case under another rule of the profile (e.g.
#:   payment services)
ClockBasis = StrEnum("ClockBasis", "receipt reopen new_facts review reclassified")
ClockBasis.__doc__ = "Why a regulatory clock (re)started."
#: - ``summary_resolution``: a complaint resolved by the close of the third business day after
#:   receipt (DISP 1.5.4)
ResponseKind = StrEnum("ResponseKind", "final summary_resolution")
ResponseKind.__doc__ = "What kind of answer the customer was given (uk-fca distinguishes them)."
#: - ``holding``: uk-fca: explains why there is no final response yet, points to the ombudsman
#: - ``in_progress``: us-cfpb: the "in progress" response within 15 days
InterimKind = StrEnum("InterimKind", "holding in_progress")
ReviewOutcome = StrEnum("ReviewOutcome", "original_upheld decision_changed")
#: - ``external_appraisal``: time spent on external appraisal or testing does not count (cn-2020)
HoldKind = StrEnum("HoldKind", "waiting_on_customer external_appraisal")
HoldKind.__doc__ = "Why the case waits; either way its SLA clocks are paused."


class RemediationAction(BaseModel):
    """One action of 溯源整改: what changes so it does not happen again, who does it, by when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: UUID
    description: TextRef
    owner: StaffId
    due_at: datetime


class ClockStart(BaseModel):
    """A regulatory deadline that starts (or restarts) with an event, and the rule that sets it.

    Everything needed to recompute the deadline from history is here: start, limit and how it
    counts, the calendar for business days, what meets it and what pauses it. The events that
    start clocks carry them in ``regulatory_clocks``: the audit trail of "which rule, and why"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sla: SlaName
    #: the profile's name for this clock, e.g. ``decision``, ``payment_services``, ``review``
    clock: str = Field(min_length=1, max_length=32)
    profile: str = Field(min_length=1, max_length=32)
    profile_version: str = Field(default="", max_length=32)
    basis: ClockBasis
    started_at: datetime
    limit: int = Field(ge=1, le=365)
    unit: LimitUnit
    #: the branch calendar business days count in (name from shared/sla/policies.toml)
    calendar: str | None = Field(default=None, max_length=64)
    #: what meets it: ``answer``, ``holding``, ``in_progress``, ``review_decision``
    met_by: list[str] = Field(default_factory=list, max_length=8)
    #: hold kinds that stop it (their time does not count)
    pauses_on: list[HoldKind] = Field(default_factory=list, max_length=4)
    warnings: list[float] = Field(default_factory=list, max_length=8)
    at_risk_fraction: float = Field(default=0.8, gt=0, lt=1)
    rule: str = Field(default="", max_length=1000)
    citation: str = Field(default="", max_length=200)
    #: the deadline as computed at the start (later pauses and extensions move it)
    due_at: datetime


class ClockOutcome(BaseModel):
    """A regulatory deadline met by the event that carries it (answer, interim reply, review).

    ``counted_days`` is the time used, paused time excluded, in ``unit``: the figure behind
    "decided within 15 / 30 / 60 days"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sla: SlaName
    clock: str = Field(min_length=1, max_length=32)
    profile: str = Field(min_length=1, max_length=32)
    #: what met it: ``answer``, ``holding``, ``in_progress``, ``review_decision``
    by: str = Field(min_length=1, max_length=32)
    started_at: datetime
    limit: int = Field(ge=1, le=365)
    unit: LimitUnit
    due_at: datetime
    counted_days: float = Field(ge=0)
    within_limit: bool
    extensions: int = Field(default=0, ge=0)


def _clocks() -> Any:
    """A list of clock starts or outcomes on an event (a fresh FieldInfo per field)."""
    return Field(default_factory=list, max_length=4)


class ProposedSolution(BaseModel):
    """One alternative offered to the customer; the customer accepts or rejects each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    solution_id: UUID
    description: TextRef
    #: optional compensation amount (e.g. a fee refund), at most two decimals
    compensation: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
