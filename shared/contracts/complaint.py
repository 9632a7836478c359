"""Events of the complaint context (``complaint.events.v1``).

The events other contexts react to are defined here; the complaint service adds its internal
lifecycle events to this module too (one module per context's topic). The topic also carries the
shared ``SlaAtRisk`` / ``SlaBreached`` events: importing this module registers them, so every
consumer of the topic can decode all of it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import sla as _sla_events  # noqa: F401  (registers SlaAtRisk / SlaBreached)
from shared.contracts.common import CustomerRef, Note
from shared.registry import EventData, event

__all__ = ["CustomerRef"]


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


class Outcome(StrEnum):
    """What the bank decided, told to the customer in the answer."""

    upheld = "upheld"
    partially_upheld = "partially_upheld"
    not_upheld = "not_upheld"


#: a short label (source of a complaint, currency, cause code)
Label = Field(min_length=1, max_length=64)


@event("ComplaintReceived")
class ComplaintReceived(EventData):
    complaint_id: UUID
    channel: Channel
    customer_ref: CustomerRef
    description: str = Field(min_length=1, max_length=4000)
    visit_id: UUID | None = None
    received_at: datetime
    #: the event that caused this case to be opened by another context (visit, survey), if any
    source_event_id: UUID | None = None


@event("ComplaintAcknowledged")
class ComplaintAcknowledged(EventData):
    complaint_id: UUID
    at: datetime
    apology: Note = ""
    #: the cycle the acknowledgement belongs to (2+ after a reopen)
    cycle: int = Field(default=1, ge=1)


@event("ComplaintClassified")
class ComplaintClassified(EventData):
    complaint_id: UUID
    category: Category
    nature: Nature
    source: str = Field(min_length=1, max_length=64)
    urgency: Urgency
    at: datetime


@event("ComplaintEscalated")
class ComplaintEscalated(EventData):
    complaint_id: UUID
    from_level: Level
    to_level: Level
    reason: Note
    automatic: bool = False
    at: datetime


@event("InvestigationStarted")
class InvestigationStarted(EventData):
    complaint_id: UUID
    at: datetime
    note: Note = ""


class ProposedSolution(BaseModel):
    """One alternative offered to the customer; the customer accepts or rejects each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    solution_id: UUID
    description: str = Field(min_length=1, max_length=2000)
    #: optional compensation amount (e.g. a fee refund), at most two decimals
    compensation: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


@event("SolutionsProposed")
class SolutionsProposed(EventData):
    complaint_id: UUID
    solutions: list[ProposedSolution] = Field(min_length=1, max_length=5)
    at: datetime


@event("SolutionAccepted")
class SolutionAccepted(EventData):
    complaint_id: UUID
    solution_id: UUID
    at: datetime
    note: Note = ""


@event("SolutionRejected")
class SolutionRejected(EventData):
    complaint_id: UUID
    solution_id: UUID
    at: datetime
    reason: Note


@event("SolutionImplemented")
class SolutionImplemented(EventData):
    """The correction is done: the case counts as resolved (follow-up verifies it in 3 days)."""

    complaint_id: UUID
    solution_id: UUID
    at: datetime
    note: Note = ""


@event("ComplaintAnswered")
class ComplaintAnswered(EventData):
    """The customer was given the bank's decision (the regulatory "decision")."""

    complaint_id: UUID
    outcome: Outcome
    answer: Note
    at: datetime


@event("ComplaintCorrectionFailed")
class ComplaintCorrectionFailed(EventData):
    """Verification found an implemented correction did not happen, while the case is still open:
    the implemented solutions count as accepted again and must be implemented anew."""

    complaint_id: UUID
    finding: Note
    at: datetime
    source_event_id: UUID | None = None


@event("ComplaintClosed")
class ComplaintClosed(EventData):
    complaint_id: UUID
    at: datetime
    result: Note
    #: the customer was satisfied with the outcome at close, if known
    customer_satisfied: bool | None = None
    #: 溯源整改: why it happened and what changes so it does not happen again
    root_cause: Note | None = None
    remediation: Note | None = None


@event("ComplaintReopened")
class ComplaintReopened(EventData):
    complaint_id: UUID
    at: datetime
    reason: Note
    cycle: int = Field(ge=2)
    #: e.g. the follow-up verification that failed
    source_event_id: UUID | None = None


class HoldKind(StrEnum):
    """Why the case waits; either way its SLA clocks are paused."""

    waiting_on_customer = "waiting_on_customer"
    #: time spent on external appraisal or testing does not count (cn-2020)
    external_appraisal = "external_appraisal"


@event("ComplaintPutOnHold")
class ComplaintPutOnHold(EventData):
    """The case waits (on the customer, or an external appraisal): its SLA clocks are paused."""

    complaint_id: UUID
    reason: Note = Field(min_length=1)
    kind: HoldKind = HoldKind.waiting_on_customer
    at: datetime


@event("ComplaintResumed")
class ComplaintResumed(EventData):
    complaint_id: UUID
    at: datetime
    note: Note = ""


@event("ComplaintMergedIntoIncident")
class ComplaintMergedIntoIncident(EventData):
    """Many complaints, one cause (e.g. a system outage): handled together as an incident."""

    complaint_id: UUID
    incident_id: UUID
    cause: Note = Field(min_length=1)
    at: datetime


@event("CustomerLeftBranch")
class CustomerLeftBranch(EventData):
    """The complainant left the branch: the resolve deadline of an in-branch case starts now."""

    complaint_id: UUID
    visit_id: UUID | None = None
    at: datetime


@event("ProgressUpdateGiven")
class ProgressUpdateGiven(EventData):
    """The complainant was told where the case stands (due every 24 h while open)."""

    complaint_id: UUID
    note: Note = Field(min_length=1)
    at: datetime


@event("RegulatoryDeadlineExtended")
class RegulatoryDeadlineExtended(EventData):
    """A complex case: the regulatory limit moves (15 → 30 days by default), with a reason."""

    complaint_id: UUID
    reason: Note = Field(min_length=1)
    #: the new limit in days from the start of the cycle
    limit_days: int = Field(ge=1, le=365)
    extension: int = Field(default=1, ge=1)
    at: datetime
