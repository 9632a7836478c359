"""Complaint commands: what staff, the SLA clock and other contexts ask of a case.

Plain frozen dataclasses; each carries its time (``at``) so the decider stays pure, and says
(class attributes of :class:`CaseCommand`) in which states of the case it may act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
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


class CaseCommand:
    """What every command says about itself, next to its fields: the words of a refusal
    (``verb``) and the states it may act in. The decider's one guard
    (:func:`services.complaint.decider.guards.refuse_unless_allowed`) reads these."""

    #: "cannot {verb}: ..."
    verb: ClassVar[str] = "do this"
    #: the command checks the case itself (receipt, reopen, ...): the common guard steps aside
    own_guard: ClassVar[bool] = False
    #: taken while the case is on hold (everything else waits for resume)
    while_on_hold: ClassVar[bool] = False
    #: taken while a higher level reviews the decision (the rest waits for the review decision)
    while_under_review: ClassVar[bool] = False
    #: only a case received under a regulatory profile takes it
    needs_profile: ClassVar[bool] = False


@dataclass(frozen=True)
class ReceiveComplaint(CaseCommand):
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

    verb: ClassVar[str] = "receive the complaint"
    own_guard: ClassVar[bool] = True

    @property
    def at(self) -> datetime:
        return self.received_at


@dataclass(frozen=True)
class Acknowledge(CaseCommand):
    at: datetime
    apology: TextRef | None = None
    verb: ClassVar[str] = "acknowledge"


@dataclass(frozen=True)
class Classify(CaseCommand):
    at: datetime
    category: Category
    nature: Nature
    source: str
    urgency: Urgency
    business_type: str | None = None
    cause_code: str | None = None
    verb: ClassVar[str] = "classify"
    while_on_hold: ClassVar[bool] = True


@dataclass(frozen=True)
class StartInvestigation(CaseCommand):
    at: datetime
    note: TextRef | None = None
    verb: ClassVar[str] = "start the investigation"


@dataclass(frozen=True)
class ProposeSolutions(CaseCommand):
    at: datetime
    solutions: tuple[ProposedSolution, ...]
    verb: ClassVar[str] = "propose solutions"


@dataclass(frozen=True)
class AcceptSolution(CaseCommand):
    at: datetime
    solution_id: UUID
    note: TextRef | None = None
    verb: ClassVar[str] = "accept a solution"


@dataclass(frozen=True)
class RejectSolution(CaseCommand):
    at: datetime
    solution_id: UUID
    reason: TextRef
    verb: ClassVar[str] = "reject a solution"


@dataclass(frozen=True)
class ImplementSolution(CaseCommand):
    at: datetime
    solution_id: UUID
    note: TextRef | None = None
    verb: ClassVar[str] = "implement a solution"


@dataclass(frozen=True)
class Answer(CaseCommand):
    at: datetime
    answer: TextRef
    outcome: Outcome = Outcome.upheld
    response_kind: ResponseKind | None = None
    refers_to_ombudsman: bool | None = None
    verb: ClassVar[str] = "answer the customer"


@dataclass(frozen=True)
class Close(CaseCommand):
    at: datetime
    result: TextRef
    customer_satisfied: bool | None = None
    root_cause: TextRef | None = None
    remediation: TextRef | None = None
    bank_at_fault: bool | None = None
    cause_code: str | None = None
    remediation_actions: tuple[RemediationAction, ...] = ()
    verb: ClassVar[str] = "close"


@dataclass(frozen=True)
class Reopen(CaseCommand):
    at: datetime
    reason: TextRef
    source_event_id: UUID | None = None
    verb: ClassVar[str] = "reopen"
    own_guard: ClassVar[bool] = True


@dataclass(frozen=True)
class Hold(CaseCommand):
    at: datetime
    reason: TextRef
    kind: HoldKind = HoldKind.waiting_on_customer
    verb: ClassVar[str] = "put the case on hold"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class Resume(CaseCommand):
    at: datetime
    note: TextRef | None = None
    verb: ClassVar[str] = "resume"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class Escalate(CaseCommand):
    at: datetime
    reason: TextRef | None
    to_level: Level | None = None
    automatic: bool = False
    verb: ClassVar[str] = "escalate"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class MergeIntoIncident(CaseCommand):
    at: datetime
    incident_id: UUID
    cause: TextRef
    verb: ClassVar[str] = "merge into an incident"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class RecordCustomerLeft(CaseCommand):
    at: datetime
    visit_id: UUID | None = None
    verb: ClassVar[str] = "record the customer leaving"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class GiveProgressUpdate(CaseCommand):
    at: datetime
    note: TextRef
    verb: ClassVar[str] = "record a progress update"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class ExtendRegulatoryDeadline(CaseCommand):
    at: datetime
    reason: TextRef
    verb: ClassVar[str] = "extend the regulatory deadline"
    while_on_hold: ClassVar[bool] = True


@dataclass(frozen=True)
class HandleFailedVerification(CaseCommand):
    """Follow-up's 跟踪核查 failed: reopen a closed case, or undo the implementation of an open one."""

    at: datetime
    finding: TextRef
    source_event_id: UUID
    verb: ClassVar[str] = "record a failed verification"
    own_guard: ClassVar[bool] = True
    while_on_hold: ClassVar[bool] = True


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
class RecordSlaAtRisk(CaseCommand):
    at: datetime
    deadline: SlaFacts
    used_fraction: float
    verb: ClassVar[str] = "record an SLA at risk"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class RecordSlaBreached(CaseCommand):
    at: datetime
    deadline: SlaFacts
    verb: ClassVar[str] = "record an SLA breach"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


# ------------------------------------------------------------------ regulatory profiles (issue 8)


@dataclass(frozen=True)
class RecordRepeat(CaseCommand):
    """The same complainant raised the same matter again while the case is open: merge it."""

    at: datetime
    channel: Channel
    customer_ref: str
    description: TextRef
    matter_key: str | None = None
    received_in_branch: str | None = None
    new_facts: bool = False
    source_event_id: UUID | None = None
    verb: ClassVar[str] = "merge a repeated complaint"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class RecordNewMaterial(CaseCommand):
    at: datetime
    summary: TextRef
    verb: ClassVar[str] = "record new material"
    while_on_hold: ClassVar[bool] = True


@dataclass(frozen=True)
class IdentifyStaff(CaseCommand):
    at: datetime
    staff_ids: tuple[str, ...]
    verb: ClassVar[str] = "record the staff the complaint is about"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class AssignHandler(CaseCommand):
    at: datetime
    handler: str
    verb: ClassVar[str] = "assign a handler"
    while_on_hold: ClassVar[bool] = True
    while_under_review: ClassVar[bool] = True


@dataclass(frozen=True)
class RequestExtension(CaseCommand):
    at: datetime
    reason: TextRef
    #: the acting member of staff (from the request's identity)
    by: str
    request_id: UUID
    verb: ClassVar[str] = "request a further extension"
    while_on_hold: ClassVar[bool] = True
    needs_profile: ClassVar[bool] = True


@dataclass(frozen=True)
class DecideExtension(CaseCommand):
    at: datetime
    approve: bool
    by: str
    note: TextRef | None = None
    verb: ClassVar[str] = "decide on an extension"
    while_on_hold: ClassVar[bool] = True
    needs_profile: ClassVar[bool] = True


@dataclass(frozen=True)
class SendInterimResponse(CaseCommand):
    at: datetime
    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False
    verb: ClassVar[str] = "send an interim response"
    needs_profile: ClassVar[bool] = True


@dataclass(frozen=True)
class RequestReview(CaseCommand):
    at: datetime
    reason: TextRef
    verb: ClassVar[str] = "request a review"
    own_guard: ClassVar[bool] = True


@dataclass(frozen=True)
class DecideReview(CaseCommand):
    at: datetime
    outcome: ReviewOutcome
    decision: TextRef
    verb: ClassVar[str] = "decide the review"
    while_under_review: ClassVar[bool] = True
    needs_profile: ClassVar[bool] = True


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
