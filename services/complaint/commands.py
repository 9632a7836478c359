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
    """What every command says about itself, on its class line: the words of a refusal (``verb``)
    and the states it may act in, e.g. ``class Hold(CaseCommand, verb="put the case on hold",
    on_hold=True, under_review=True)``. The decider's one guard
    (:func:`services.complaint.decider.case.refuse_unless_allowed`) reads these."""

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

    def __init_subclass__(
        cls,
        *,
        verb: str,
        own_guard: bool = False,
        on_hold: bool = False,
        under_review: bool = False,
        needs_profile: bool = False,
    ) -> None:
        super().__init_subclass__()
        cls.verb = verb
        cls.own_guard = own_guard
        cls.while_on_hold = on_hold
        cls.while_under_review = under_review
        cls.needs_profile = needs_profile


@dataclass(frozen=True)
class ReceiveComplaint(CaseCommand, verb="receive the complaint", own_guard=True):
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
class Acknowledge(CaseCommand, verb="acknowledge"):
    at: datetime
    apology: TextRef | None = None


@dataclass(frozen=True)
class Classify(CaseCommand, verb="classify", on_hold=True):
    at: datetime
    category: Category
    nature: Nature
    source: str
    urgency: Urgency
    business_type: str | None = None
    cause_code: str | None = None


@dataclass(frozen=True)
class StartInvestigation(CaseCommand, verb="start the investigation"):
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class ProposeSolutions(CaseCommand, verb="propose solutions"):
    at: datetime
    solutions: tuple[ProposedSolution, ...]


@dataclass(frozen=True)
class AcceptSolution(CaseCommand, verb="accept a solution"):
    at: datetime
    solution_id: UUID
    note: TextRef | None = None


@dataclass(frozen=True)
class RejectSolution(CaseCommand, verb="reject a solution"):
    at: datetime
    solution_id: UUID
    reason: TextRef


@dataclass(frozen=True)
class ImplementSolution(CaseCommand, verb="implement a solution"):
    at: datetime
    solution_id: UUID
    note: TextRef | None = None


@dataclass(frozen=True)
class Answer(CaseCommand, verb="answer the customer"):
    at: datetime
    answer: TextRef
    outcome: Outcome = Outcome.upheld
    response_kind: ResponseKind | None = None
    refers_to_ombudsman: bool | None = None


@dataclass(frozen=True)
class Close(CaseCommand, verb="close"):
    at: datetime
    result: TextRef
    customer_satisfied: bool | None = None
    root_cause: TextRef | None = None
    remediation: TextRef | None = None
    bank_at_fault: bool | None = None
    cause_code: str | None = None
    remediation_actions: tuple[RemediationAction, ...] = ()


@dataclass(frozen=True)
class Reopen(CaseCommand, verb="reopen", own_guard=True):
    at: datetime
    reason: TextRef
    source_event_id: UUID | None = None


@dataclass(frozen=True)
class Hold(CaseCommand, verb="put the case on hold", on_hold=True, under_review=True):
    at: datetime
    reason: TextRef
    kind: HoldKind = HoldKind.waiting_on_customer


@dataclass(frozen=True)
class Resume(CaseCommand, verb="resume", on_hold=True, under_review=True):
    at: datetime
    note: TextRef | None = None


@dataclass(frozen=True)
class Escalate(CaseCommand, verb="escalate", on_hold=True, under_review=True):
    at: datetime
    reason: TextRef | None
    to_level: Level | None = None
    automatic: bool = False


@dataclass(frozen=True)
class MergeIntoIncident(CaseCommand, verb="merge into an incident", on_hold=True, under_review=True):
    at: datetime
    incident_id: UUID
    cause: TextRef


@dataclass(frozen=True)
class RecordCustomerLeft(CaseCommand, verb="record the customer leaving", on_hold=True, under_review=True):
    at: datetime
    visit_id: UUID | None = None


@dataclass(frozen=True)
class GiveProgressUpdate(CaseCommand, verb="record a progress update", on_hold=True, under_review=True):
    at: datetime
    note: TextRef


@dataclass(frozen=True)
class ExtendRegulatoryDeadline(CaseCommand, verb="extend the regulatory deadline", on_hold=True):
    at: datetime
    reason: TextRef


@dataclass(frozen=True)
class HandleFailedVerification(
    CaseCommand, verb="record a failed verification", own_guard=True, on_hold=True
):
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
class RecordSlaAtRisk(CaseCommand, verb="record an SLA at risk", on_hold=True, under_review=True):
    at: datetime
    deadline: SlaFacts
    used_fraction: float


@dataclass(frozen=True)
class RecordSlaBreached(CaseCommand, verb="record an SLA breach", on_hold=True, under_review=True):
    at: datetime
    deadline: SlaFacts


# ------------------------------------------------------------------ regulatory profiles (issue 8)


@dataclass(frozen=True)
class RecordRepeat(CaseCommand, verb="merge a repeated complaint", on_hold=True, under_review=True):
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
class RecordNewMaterial(CaseCommand, verb="record new material", on_hold=True):
    at: datetime
    summary: TextRef


@dataclass(frozen=True)
class IdentifyStaff(
    CaseCommand, verb="record the staff the complaint is about", on_hold=True, under_review=True
):
    at: datetime
    staff_ids: tuple[str, ...]


@dataclass(frozen=True)
class AssignHandler(CaseCommand, verb="assign a handler", on_hold=True, under_review=True):
    at: datetime
    handler: str


@dataclass(frozen=True)
class RequestExtension(CaseCommand, verb="request a further extension", on_hold=True, needs_profile=True):
    at: datetime
    reason: TextRef
    #: the acting member of staff (from the request's identity)
    by: str
    request_id: UUID


@dataclass(frozen=True)
class DecideExtension(CaseCommand, verb="decide on an extension", on_hold=True, needs_profile=True):
    at: datetime
    approve: bool
    by: str
    note: TextRef | None = None


@dataclass(frozen=True)
class SendInterimResponse(CaseCommand, verb="send an interim response", needs_profile=True):
    at: datetime
    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False


@dataclass(frozen=True)
class RequestReview(CaseCommand, verb="request a review", own_guard=True):
    at: datetime
    reason: TextRef


@dataclass(frozen=True)
class DecideReview(CaseCommand, verb="decide the review", under_review=True, needs_profile=True):
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
