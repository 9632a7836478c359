"""Complaint commands: what staff, the SLA clock and other contexts ask of a case.

Plain frozen dataclasses; each carries its time (``at``) so the decider stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.contracts.complaint import (
    Category,
    Channel,
    HoldKind,
    InterimKind,
    Level,
    Nature,
    Outcome,
    ProposedSolution,
    RemediationAction,
    ResponseKind,
    ReviewOutcome,
    Urgency,
)
from shared.contracts.text import TextRef


@dataclass(frozen=True)
class ReceiveComplaint:
    complaint_id: UUID
    channel: Channel
    customer_ref: str
    description: TextRef | None
    received_at: datetime
    visit_id: UUID | None = None
    source_event_id: UUID | None = None
    #: the linked visit had already ended when the case was opened
    customer_left_at: datetime | None = None
    #: the regulatory profile of the branch, and the calendar its business days count in
    profile: str | None = None
    calendar: str | None = None
    business_type: str | None = None
    matter_key: str | None = None
    about_staff: tuple[str, ...] = ()
    collective: bool = False
    representatives: tuple[str, ...] = ()

    @property
    def at(self) -> datetime:
        return self.received_at


@dataclass(frozen=True)
class Acknowledge:
    at: datetime
    apology: TextRef | None = None


@dataclass(frozen=True)
class Classify:
    at: datetime
    category: Category
    nature: Nature
    source: str
    urgency: Urgency
    business_type: str | None = None
    cause_code: str | None = None


@dataclass(frozen=True)
class StartInvestigation:
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class ProposeSolutions:
    at: datetime
    solutions: tuple[ProposedSolution, ...]


@dataclass(frozen=True)
class AcceptSolution:
    at: datetime
    solution_id: UUID
    note: TextRef | None = None


@dataclass(frozen=True)
class RejectSolution:
    at: datetime
    solution_id: UUID
    reason: TextRef


@dataclass(frozen=True)
class ImplementSolution:
    at: datetime
    solution_id: UUID
    note: TextRef | None = None


@dataclass(frozen=True)
class Answer:
    at: datetime
    answer: TextRef
    outcome: Outcome = Outcome.upheld
    response_kind: ResponseKind | None = None
    refers_to_ombudsman: bool | None = None


@dataclass(frozen=True)
class Close:
    at: datetime
    result: TextRef
    customer_satisfied: bool | None = None
    root_cause: TextRef | None = None
    remediation: TextRef | None = None
    bank_at_fault: bool | None = None
    cause_code: str | None = None
    remediation_actions: tuple[RemediationAction, ...] = ()


@dataclass(frozen=True)
class Reopen:
    at: datetime
    reason: TextRef
    source_event_id: UUID | None = None


@dataclass(frozen=True)
class Hold:
    at: datetime
    reason: TextRef
    kind: HoldKind = HoldKind.waiting_on_customer


@dataclass(frozen=True)
class Resume:
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class Escalate:
    at: datetime
    reason: TextRef | None
    to_level: Level | None = None
    automatic: bool = False


@dataclass(frozen=True)
class MergeIntoIncident:
    at: datetime
    incident_id: UUID
    cause: TextRef


@dataclass(frozen=True)
class RecordCustomerLeft:
    at: datetime
    visit_id: UUID | None = None


@dataclass(frozen=True)
class GiveProgressUpdate:
    at: datetime
    note: TextRef


@dataclass(frozen=True)
class ExtendRegulatoryDeadline:
    at: datetime
    reason: TextRef


@dataclass(frozen=True)
class HandleFailedVerification:
    """Follow-up's 跟踪核查 failed: reopen a closed case, or undo the implementation of an open one."""

    at: datetime
    finding: TextRef
    source_event_id: UUID


@dataclass(frozen=True)
class SlaFacts:
    """What the deadline scheduler knows about the deadline that fired."""

    deadline_id: UUID
    sla: str
    policy: str
    started_at: datetime
    due_at: datetime
    rule: str = ""


@dataclass(frozen=True)
class RecordSlaAtRisk:
    at: datetime
    deadline: SlaFacts
    used_fraction: float


@dataclass(frozen=True)
class RecordSlaBreached:
    at: datetime
    deadline: SlaFacts


# ------------------------------------------------------------------ regulatory profiles (issue 8)


@dataclass(frozen=True)
class RecordRepeat:
    """The same complainant raised the same matter again while the case is open: merge it."""

    at: datetime
    channel: Channel
    customer_ref: str
    description: TextRef
    matter_key: str | None = None
    received_in_branch: str | None = None
    new_facts: bool = False
    source_event_id: UUID | None = None


@dataclass(frozen=True)
class RecordNewMaterial:
    at: datetime
    summary: TextRef


@dataclass(frozen=True)
class IdentifyStaff:
    at: datetime
    staff_ids: tuple[str, ...]


@dataclass(frozen=True)
class AssignHandler:
    at: datetime
    handler: str


@dataclass(frozen=True)
class RequestExtension:
    at: datetime
    reason: TextRef
    #: the acting member of staff (from the request's identity)
    by: str
    request_id: UUID


@dataclass(frozen=True)
class DecideExtension:
    at: datetime
    approve: bool
    by: str
    note: TextRef | None = None


@dataclass(frozen=True)
class SendInterimResponse:
    at: datetime
    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False


@dataclass(frozen=True)
class RequestReview:
    at: datetime
    reason: TextRef


@dataclass(frozen=True)
class DecideReview:
    at: datetime
    outcome: ReviewOutcome
    decision: TextRef


Command = (
    ReceiveComplaint
    | Acknowledge
    | Classify
    | StartInvestigation
    | ProposeSolutions
    | AcceptSolution
    | RejectSolution
    | ImplementSolution
    | Answer
    | Close
    | Reopen
    | Hold
    | Resume
    | Escalate
    | MergeIntoIncident
    | RecordCustomerLeft
    | GiveProgressUpdate
    | ExtendRegulatoryDeadline
    | HandleFailedVerification
    | RecordSlaAtRisk
    | RecordSlaBreached
    | RecordRepeat
    | RecordNewMaterial
    | IdentifyStaff
    | AssignHandler
    | RequestExtension
    | DecideExtension
    | SendInterimResponse
    | RequestReview
    | DecideReview
)
