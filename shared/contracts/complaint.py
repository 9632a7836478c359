"""Events of the complaint context (``complaint.events.v1``).

The events other contexts react to are defined here; the complaint service adds its internal
lifecycle events to this module too (one module per context's topic). The topic also carries the
shared ``SlaAtRisk`` / ``SlaBreached`` events: importing this module registers them, so every
consumer of the topic can decode all of it.

Staff's free text (a description, a reason, an answer, a note) never travels: events carry a
:class:`~shared.contracts.text.TextRef` to the text the complaint service keeps (or, for a case
opened from a visit, a survey or a failed verification, the ref of the context that received the
words). Those events are schema v2; v1 events with raw text are upcast to withheld refs on read.
Decisions never depend on the words: automatic escalations name their causes as codes.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.contracts import sla as _sla_events  # noqa: F401  (registers SlaAtRisk / SlaBreached)
from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import EventData, event

__all__ = ["CustomerRef", "StaffId"]


class Channel(StrEnum):
    in_branch = "in_branch"
    phone_hotline = "phone_hotline"
    web = "web"
    app = "app"
    letter = "letter"
    third_party_platform = "third_party_platform"
    internal_staff = "internal_staff"
    survey = "survey"


class Category(StrEnum):
    service_attitude = "service_attitude"
    process_complexity = "process_complexity"
    waiting_time = "waiting_time"
    product_defect = "product_defect"
    system_failure = "system_failure"
    fees_and_information_transparency = "fees_and_information_transparency"
    communication = "communication"
    business_restrictions = "business_restrictions"
    personal_needs_unmet = "personal_needs_unmet"
    other = "other"


class Nature(StrEnum):
    general = "general"
    major = "major"
    malicious = "malicious"


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"


class Level(StrEnum):
    """Escalation levels, in order; a case only ever moves up."""

    lobby_manager = "lobby_manager"
    branch_head = "branch_head"
    hq_department = "hq_department"


class EscalationCause(StrEnum):
    """Why a case escalated by itself (never words: a decider's decision is made on codes)."""

    major = "major"
    urgent = "urgent"
    resolve_breached = "resolve_breached"
    review_requested = "review_requested"


class Outcome(StrEnum):
    """What the bank decided, told to the customer in the answer."""

    upheld = "upheld"
    partially_upheld = "partially_upheld"
    not_upheld = "not_upheld"


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


class LimitUnit(StrEnum):
    """How a regulatory limit counts: calendar days, or business days of the branch's calendar."""

    days = "days"
    business_days = "business_days"


class ClockBasis(StrEnum):
    """Why a regulatory clock (re)started."""

    receipt = "receipt"
    reopen = "reopen"
    #: new facts or reasons from the complainant restart it from the day they arrive (cn-2020)
    new_facts = "new_facts"
    #: the complainant asked the higher level to review the decision (cn-2020)
    review = "review"
    #: a new business type moved the case under another rule of the profile (e.g. payment services)
    reclassified = "reclassified"


class ResponseKind(StrEnum):
    """What kind of answer the customer was given (uk-fca distinguishes them)."""

    final = "final"
    #: a complaint resolved by the close of the third business day after receipt (DISP 1.5.4)
    summary_resolution = "summary_resolution"


class InterimKind(StrEnum):
    #: uk-fca: explains why there is no final response yet, points to the ombudsman
    holding = "holding"
    #: us-cfpb: the "in progress" response within 15 days
    in_progress = "in_progress"


class ReviewOutcome(StrEnum):
    original_upheld = "original_upheld"
    decision_changed = "decision_changed"


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


@event("ComplaintReceived", version=2)
class ComplaintReceived(EventData):
    complaint_id: UUID
    channel: Channel
    customer_ref: CustomerRef
    #: the complaint service's own text, or reception's / feedback's ref for a case they raised
    description: TextRef | None = None
    visit_id: UUID | None = None
    received_at: datetime
    #: the event that caused this case to be opened by another context (visit, survey), if any
    source_event_id: UUID | None = None
    #: the regulatory profile the case follows (chosen per branch at receipt; kept for its life)
    regulatory_profile: str | None = Field(default=None, max_length=32)
    #: business type (code table of the profile), if known at receipt
    business_type: Code | None = None
    #: what the complaint is about, to recognise the same complainant repeating the same matter
    matter_key: MatterKey | None = None
    #: members of staff the complaint is about: they may not handle it (recusal)
    about_staff: list[StaffId] = Field(default_factory=list, max_length=10)
    #: a collective complaint, with its representatives (the profile bounds how many)
    collective: bool = False
    representatives: list[CustomerRef] = Field(default_factory=list, max_length=20)
    #: the regulatory deadlines the receipt starts, with their rules
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ComplaintAcknowledged", version=2)
class ComplaintAcknowledged(EventData):
    complaint_id: UUID
    at: datetime
    apology: TextRef | None = None
    #: the cycle the acknowledgement belongs to (2+ after a reopen)
    cycle: int = Field(default=1, ge=1)
    #: the expected timeline told to the complainant (uk-fca: a prompt acknowledgement states it),
    #: written from the profile's template (system text, no staff words)
    expected_response_by: datetime | None = None
    timeline: str = Field(default="", max_length=2000)


@event("ComplaintClassified")
class ComplaintClassified(EventData):
    complaint_id: UUID
    category: Category
    nature: Nature
    source: str = Field(min_length=1, max_length=64)
    urgency: Urgency
    at: datetime
    #: business type and cause code (code tables of the regulatory profile), for the reports
    business_type: Code | None = None
    cause_code: Code | None = None
    #: a new business type put the case under another rule of its profile (from the same start)
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ComplaintEscalated", version=2)
class ComplaintEscalated(EventData):
    complaint_id: UUID
    from_level: Level
    to_level: Level
    #: staff's reason; None for an automatic escalation, whose causes are codes
    reason: TextRef | None = None
    automatic: bool = False
    causes: list[EscalationCause] = Field(default_factory=list, max_length=4)
    at: datetime


@event("InvestigationStarted", version=2)
class InvestigationStarted(EventData):
    complaint_id: UUID
    at: datetime
    note: TextRef | None = None


class ProposedSolution(BaseModel):
    """One alternative offered to the customer; the customer accepts or rejects each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    solution_id: UUID
    description: TextRef
    #: optional compensation amount (e.g. a fee refund), at most two decimals
    compensation: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


@event("SolutionsProposed", version=2)
class SolutionsProposed(EventData):
    complaint_id: UUID
    solutions: list[ProposedSolution] = Field(min_length=1, max_length=5)
    at: datetime


@event("SolutionAccepted", version=2)
class SolutionAccepted(EventData):
    complaint_id: UUID
    solution_id: UUID
    at: datetime
    note: TextRef | None = None


@event("SolutionRejected", version=2)
class SolutionRejected(EventData):
    complaint_id: UUID
    solution_id: UUID
    at: datetime
    reason: TextRef


@event("SolutionImplemented", version=2)
class SolutionImplemented(EventData):
    """The correction is done: the case counts as resolved (follow-up verifies it in 3 days)."""

    complaint_id: UUID
    solution_id: UUID
    at: datetime
    note: TextRef | None = None


@event("ComplaintAnswered", version=2)
class ComplaintAnswered(EventData):
    """The customer was given the bank's decision (the regulatory "decision")."""

    complaint_id: UUID
    outcome: Outcome
    answer: TextRef
    at: datetime
    #: uk-fca: a summary resolution communication or a final response
    response_kind: ResponseKind | None = None
    #: the response told the complainant of their right to refer the complaint to the ombudsman
    refers_to_ombudsman: bool | None = None
    #: the regulatory deadlines this answer met, and how much of each was used
    regulatory_outcomes: list[ClockOutcome] = _clocks()


@event("ComplaintCorrectionFailed", version=2)
class ComplaintCorrectionFailed(EventData):
    """Verification found an implemented correction did not happen, while the case is still open:
    the implemented solutions count as accepted again and must be implemented anew."""

    complaint_id: UUID
    finding: TextRef
    at: datetime
    source_event_id: UUID | None = None


@event("ComplaintClosed", version=2)
class ComplaintClosed(EventData):
    complaint_id: UUID
    at: datetime
    result: TextRef
    #: the customer was satisfied with the outcome at close, if known
    customer_satisfied: bool | None = None
    #: 溯源整改: why it happened and what changes so it does not happen again
    root_cause: TextRef | None = None
    remediation: TextRef | None = None
    #: the bank was at fault (closing then needs a root cause and remediation actions)
    bank_at_fault: bool | None = None
    #: cause code (code table of the regulatory profile)
    cause_code: Code | None = None
    #: 溯源整改 actions, each with an owner and a due time (follow-up makes a task of each)
    remediation_actions: list[RemediationAction] = Field(default_factory=list, max_length=10)


@event("ComplaintReopened", version=2)
class ComplaintReopened(EventData):
    complaint_id: UUID
    at: datetime
    reason: TextRef
    cycle: int = Field(ge=2)
    #: e.g. the follow-up verification that failed
    source_event_id: UUID | None = None
    #: the regulatory deadlines of the new cycle
    regulatory_clocks: list[ClockStart] = _clocks()


class HoldKind(StrEnum):
    """Why the case waits; either way its SLA clocks are paused."""

    waiting_on_customer = "waiting_on_customer"
    #: time spent on external appraisal or testing does not count (cn-2020)
    external_appraisal = "external_appraisal"


@event("ComplaintPutOnHold", version=2)
class ComplaintPutOnHold(EventData):
    """The case waits (on the customer, or an external appraisal): its SLA clocks are paused."""

    complaint_id: UUID
    reason: TextRef
    kind: HoldKind = HoldKind.waiting_on_customer
    at: datetime
    #: the complainant must be told (cn-2020: the appraisal time does not count)
    inform_complainant: bool = False
    #: regulatory clocks this hold stops (the others keep running, e.g. uk-fca's)
    regulatory_clocks_paused: list[SlaName] = Field(default_factory=list, max_length=8)


@event("ComplaintResumed", version=2)
class ComplaintResumed(EventData):
    complaint_id: UUID
    at: datetime
    note: TextRef | None = None
    #: the complainant must be told (e.g. the appraisal result arrived, the clock runs again)
    inform_complainant: bool = False
    #: the regulatory decision deadline after the pause, if a regulatory clock was paused
    regulatory_due_at: datetime | None = None


@event("ComplaintMergedIntoIncident", version=2)
class ComplaintMergedIntoIncident(EventData):
    """Many complaints, one cause (e.g. a system outage): handled together as an incident."""

    complaint_id: UUID
    incident_id: UUID
    cause: TextRef
    at: datetime


@event("CustomerLeftBranch")
class CustomerLeftBranch(EventData):
    """The complainant left the branch: the resolve deadline of an in-branch case starts now."""

    complaint_id: UUID
    visit_id: UUID | None = None
    at: datetime


@event("ProgressUpdateGiven", version=2)
class ProgressUpdateGiven(EventData):
    """The complainant was told where the case stands (due every 24 h while open)."""

    complaint_id: UUID
    note: TextRef
    at: datetime


@event("RegulatoryDeadlineExtended", version=2)
class RegulatoryDeadlineExtended(EventData):
    """A complex case: the regulatory limit moves (15 → 30 days by default), with a reason."""

    complaint_id: UUID
    reason: TextRef
    #: the new limit in days from the start of the cycle
    limit_days: int = Field(ge=1, le=365)
    extension: int = Field(default=1, ge=1)
    at: datetime
    #: which deadline, and how ``limit_days`` counts (uk-fca payment services: business days)
    sla: SlaName = "complaint.regulatory"
    unit: LimitUnit = LimitUnit.days
    #: a further extension needs approval by someone other than the requester (cn-2020)
    requested_by: StaffId | None = None
    approved_by: StaffId | None = None
    #: the new deadline
    due_at: datetime | None = None


# ------------------------------------------------------------------------ regulatory profiles (issue 8)


@event("RegulatoryMilestoneReached")
class RegulatoryMilestoneReached(EventData):
    """A warning before a regulatory limit (e.g. day 10 of 15): a task for the branch head."""

    complaint_id: UUID
    deadline_id: UUID
    sla: SlaName
    profile: str = Field(min_length=1, max_length=32)
    limit: int = Field(ge=1, le=365)
    unit: LimitUnit
    #: how far into the limit, in ``unit`` (e.g. 10.0 of 15)
    day: float = Field(ge=0)
    due_at: datetime
    #: what to do now, e.g. "decide, or extend to 30 days now"
    action: str = Field(min_length=1, max_length=500)
    assignee_role: Level = Level.branch_head
    at: datetime


@event("RepeatComplaintMerged", version=2)
class RepeatComplaintMerged(EventData):
    """The same complainant raised the same matter again while the case is open: recorded on the
    open case, no new case and no new clock (unless it brings new facts)."""

    complaint_id: UUID
    at: datetime
    channel: Channel
    customer_ref: CustomerRef
    matter_key: MatterKey | None = None
    description: TextRef
    #: the branch where the repeat came in (may differ from the case's)
    received_in_branch: str | None = Field(default=None, max_length=64)
    new_facts: bool = False
    source_event_id: UUID | None = None
    #: new facts restart the decision clock from today (cn-2020)
    regulatory_clocks: list[ClockStart] = _clocks()


@event("NewMaterialReceived", version=2)
class NewMaterialReceived(EventData):
    """New facts or reasons from the complainant (cn-2020: the clock restarts from this day)."""

    complaint_id: UUID
    at: datetime
    summary: TextRef
    restarts_clock: bool
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ComplaintStaffIdentified")
class ComplaintStaffIdentified(EventData):
    """Members of staff the complaint is about (they may not handle it)."""

    complaint_id: UUID
    staff_ids: list[StaffId] = Field(min_length=1, max_length=10)
    at: datetime


@event("HandlerAssigned")
class HandlerAssigned(EventData):
    complaint_id: UUID
    handler: StaffId
    previous: StaffId | None = None
    at: datetime


@event("ExtensionRequested", version=2)
class ExtensionRequested(EventData):
    """A further extension (cn-2020: to 60 days) that needs approval by higher-level management."""

    complaint_id: UUID
    request_id: UUID
    sla: SlaName = "complaint.regulatory"
    requested_by: StaffId
    reason: TextRef
    limit_days: int = Field(ge=1, le=365)
    extension: int = Field(ge=1)
    at: datetime


@event("ExtensionApproved", version=2)
class ExtensionApproved(EventData):
    complaint_id: UUID
    request_id: UUID
    sla: SlaName = "complaint.regulatory"
    approved_by: StaffId
    requested_by: StaffId
    limit_days: int = Field(ge=1, le=365)
    note: TextRef | None = None
    at: datetime


@event("ExtensionDenied", version=2)
class ExtensionDenied(EventData):
    """Without approval the earlier limit stands."""

    complaint_id: UUID
    request_id: UUID
    sla: SlaName = "complaint.regulatory"
    denied_by: StaffId
    requested_by: StaffId
    reason: TextRef
    at: datetime


@event("InterimResponseSent", version=2)
class InterimResponseSent(EventData):
    """uk-fca holding response / us-cfpb "in progress" response."""

    complaint_id: UUID
    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False
    #: when the final response will come (uk-fca payment services: by business day 35)
    final_response_by: datetime | None = None
    at: datetime
    regulatory_outcomes: list[ClockOutcome] = _clocks()


@event("ReviewRequested", version=2)
class ReviewRequested(EventData):
    """The complainant asks the higher level to review the decision: a new cycle with its own clock."""

    complaint_id: UUID
    at: datetime
    reason: TextRef
    cycle: int = Field(ge=2)
    #: the decision under review
    decision_at: datetime
    reviewing_level: Level
    #: the review's own deadline
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ReviewDecided", version=2)
class ReviewDecided(EventData):
    complaint_id: UUID
    at: datetime
    outcome: ReviewOutcome
    decision: TextRef
    cycle: int = Field(ge=2)
    regulatory_outcomes: list[ClockOutcome] = _clocks()


# ------------------------------------------------------------- v1 events with raw free text

withhold_texts(ComplaintReceived, "complaint", "description")
withhold_texts(ComplaintAcknowledged, "complaint", "apology")
withhold_texts(ComplaintEscalated, "complaint", "reason")
withhold_texts(InvestigationStarted, "complaint", "note")
withhold_texts(SolutionsProposed, "complaint", "solutions[].description")
withhold_texts(SolutionAccepted, "complaint", "note")
withhold_texts(SolutionRejected, "complaint", "reason")
withhold_texts(SolutionImplemented, "complaint", "note")
withhold_texts(ComplaintAnswered, "complaint", "answer")
withhold_texts(ComplaintCorrectionFailed, "complaint", "finding")
withhold_texts(
    ComplaintClosed, "complaint", "result", "root_cause", "remediation", "remediation_actions[].description"
)
withhold_texts(ComplaintReopened, "complaint", "reason")
withhold_texts(ComplaintPutOnHold, "complaint", "reason")
withhold_texts(ComplaintResumed, "complaint", "note")
withhold_texts(ComplaintMergedIntoIncident, "complaint", "cause")
withhold_texts(ProgressUpdateGiven, "complaint", "note")
withhold_texts(RegulatoryDeadlineExtended, "complaint", "reason")
withhold_texts(RepeatComplaintMerged, "complaint", "description")
withhold_texts(NewMaterialReceived, "complaint", "summary")
withhold_texts(ExtensionRequested, "complaint", "reason")
withhold_texts(ExtensionApproved, "complaint", "note")
withhold_texts(ExtensionDenied, "complaint", "reason")
withhold_texts(InterimResponseSent, "complaint", "note")
withhold_texts(ReviewRequested, "complaint", "reason")
withhold_texts(ReviewDecided, "complaint", "decision")
