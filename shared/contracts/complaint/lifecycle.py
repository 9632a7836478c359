"""The complaint lifecycle's events: received to closed, reopened, held, escalated, merged."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.complaint.vocabulary import (
    Category,
    Channel,
    ClockOutcome,
    ClockStart,
    Code,
    EscalationCause,
    HoldKind,
    Level,
    LimitUnit,
    MatterKey,
    Nature,
    Outcome,
    ProposedSolution,
    RemediationAction,
    ResponseKind,
    SlaName,
    Urgency,
    _clocks,
)
from shared.contracts.text import TextRef, withhold_texts
from shared.registry import EventData, event

#: the events (the bases ``OnCase``, ``CaseStep`` are no events: the package does not export them)
__all__ = [
    "ComplaintAcknowledged",
    "ComplaintAnswered",
    "ComplaintClassified",
    "ComplaintClosed",
    "ComplaintCorrectionFailed",
    "ComplaintEscalated",
    "ComplaintMergedIntoIncident",
    "ComplaintPutOnHold",
    "ComplaintReceived",
    "ComplaintReopened",
    "ComplaintResumed",
    "CustomerLeftBranch",
    "InvestigationStarted",
    "ProgressUpdateGiven",
    "RegulatoryDeadlineExtended",
    "SolutionAccepted",
    "SolutionImplemented",
    "SolutionRejected",
    "SolutionsProposed",
]


class OnCase(EventData):
    # what every event of a case says first (a base's fields come first; no docstring: each
    # event's schema keeps its own description, or none)
    complaint_id: UUID


class CaseStep(OnCase):
    # a step on a case that says when before what
    at: datetime


@event("ComplaintReceived", version=2)
class ComplaintReceived(OnCase):
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
class ComplaintAcknowledged(CaseStep):
    apology: TextRef | None = None
    #: the cycle the acknowledgement belongs to (2+ after a reopen)
    cycle: int = Field(default=1, ge=1)
    #: the expected timeline told to the complainant (uk-fca: a prompt acknowledgement states it),
    #: written from the profile's template (system text, no staff words)
    expected_response_by: datetime | None = None
    timeline: str = Field(default="", max_length=2000)


@event("ComplaintClassified")
class ComplaintClassified(OnCase):
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
class ComplaintEscalated(OnCase):
    from_level: Level
    to_level: Level
    #: staff's reason; None for an automatic escalation, whose causes are codes
    reason: TextRef | None = None
    automatic: bool = False
    causes: list[EscalationCause] = Field(default_factory=list, max_length=4)
    at: datetime


@event("InvestigationStarted", version=2)
class InvestigationStarted(CaseStep):
    note: TextRef | None = None


@event("SolutionsProposed", version=2)
class SolutionsProposed(OnCase):
    solutions: list[ProposedSolution] = Field(min_length=1, max_length=5)
    at: datetime


class _OnSolution(OnCase):
    # what a step on one proposed solution says first (a base's fields come first)
    solution_id: UUID
    at: datetime


@event("SolutionAccepted", version=2)
class SolutionAccepted(_OnSolution):
    note: TextRef | None = None


@event("SolutionRejected", version=2)
class SolutionRejected(_OnSolution):
    reason: TextRef


@event("SolutionImplemented", version=2)
class SolutionImplemented(_OnSolution):
    """The correction is done: the case counts as resolved (follow-up verifies it in 3 days)."""

    note: TextRef | None = None


@event("ComplaintAnswered", version=2)
class ComplaintAnswered(OnCase):
    """The customer was given the bank's decision (the regulatory "decision")."""

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
class ComplaintCorrectionFailed(OnCase):
    """Verification found an implemented correction did not happen, while the case is still open:
    the implemented solutions count as accepted again and must be implemented anew."""

    finding: TextRef
    at: datetime
    source_event_id: UUID | None = None


@event("ComplaintClosed", version=2)
class ComplaintClosed(CaseStep):
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
class ComplaintReopened(CaseStep):
    reason: TextRef
    cycle: int = Field(ge=2)
    #: e.g. the follow-up verification that failed
    source_event_id: UUID | None = None
    #: the regulatory deadlines of the new cycle
    regulatory_clocks: list[ClockStart] = _clocks()


@event("ComplaintPutOnHold", version=2)
class ComplaintPutOnHold(OnCase):
    """The case waits (on the customer, or an external appraisal): its SLA clocks are paused."""

    reason: TextRef
    kind: HoldKind = HoldKind.waiting_on_customer
    at: datetime
    #: the complainant must be told (cn-2020: the appraisal time does not count)
    inform_complainant: bool = False
    #: regulatory clocks this hold stops (the others keep running, e.g. uk-fca's)
    regulatory_clocks_paused: list[SlaName] = Field(default_factory=list, max_length=8)


@event("ComplaintResumed", version=2)
class ComplaintResumed(CaseStep):
    note: TextRef | None = None
    #: the complainant must be told (e.g. the appraisal result arrived, the clock runs again)
    inform_complainant: bool = False
    #: the regulatory decision deadline after the pause, if a regulatory clock was paused
    regulatory_due_at: datetime | None = None


@event("ComplaintMergedIntoIncident", version=2)
class ComplaintMergedIntoIncident(OnCase):
    """Many complaints, one cause (e.g. a system outage): handled together as an incident."""

    incident_id: UUID
    cause: TextRef
    at: datetime


@event("CustomerLeftBranch")
class CustomerLeftBranch(OnCase):
    """The complainant left the branch: the resolve deadline of an in-branch case starts now."""

    visit_id: UUID | None = None
    at: datetime


@event("ProgressUpdateGiven", version=2)
class ProgressUpdateGiven(OnCase):
    """The complainant was told where the case stands (due every 24 h while open)."""

    note: TextRef
    at: datetime


@event("RegulatoryDeadlineExtended", version=2)
class RegulatoryDeadlineExtended(OnCase):
    """A complex case: the regulatory limit moves (15 → 30 days by default), with a reason."""

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
