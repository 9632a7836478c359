"""Complaint commands: what staff, the SLA clock and other contexts ask of a case.

Frozen dataclasses by declaration (:class:`shared.decider.Command`); each carries its time
(``at``) so the decider stays pure, and says (class keywords of :class:`CaseCommand`) in which
states of the case it may act. Commands of one pattern share a base, as their bodies do
(``bodies.NoteBody``, ``ReasonBody``, ``SolutionDecisionBody``): a step with an optional note
(:class:`Noted`), one with a reason (:class:`Reasoned`), a step on one proposed solution
(:class:`OnSolution`), on one fired deadline (:class:`OnDeadline`); a base's fields come first.
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
from shared.decider import Command as _Command


class CaseCommand(_Command):
    """What every command says about itself, on its class line: the words of a refusal (``verb``)
    and the states it may act in, e.g. ``class Hold(Reasoned, verb="put the case on hold",
    on_hold=True, under_review=True)``. The decider's one guard
    (:func:`services.complaint.decider.case.refuse_unless_allowed`) reads these; a base of several
    commands (no ``verb``) says nothing of them."""

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
        verb: str | None = None,
        own_guard: bool = False,
        on_hold: bool = False,
        under_review: bool = False,
        needs_profile: bool = False,
    ) -> None:
        super().__init_subclass__()
        if verb is not None:
            cls.verb = verb
            cls.own_guard = own_guard
            cls.while_on_hold = on_hold
            cls.while_under_review = under_review
            cls.needs_profile = needs_profile


class Step(CaseCommand):
    """A step on an existing case, at a time."""

    at: datetime


class Noted(Step):
    note: TextRef | None = None


class Reasoned(Step):
    reason: TextRef


class OnSolution(Step):
    solution_id: UUID


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


class Acknowledge(Step, verb="acknowledge"):
    apology: TextRef | None = None


class Classify(Step, verb="classify", on_hold=True):
    category: Category
    nature: Nature
    source: str
    urgency: Urgency
    business_type: str | None = None
    cause_code: str | None = None


class StartInvestigation(Noted, verb="start the investigation"):
    pass


class ProposeSolutions(Step, verb="propose solutions"):
    solutions: tuple[ProposedSolution, ...]


class AcceptSolution(OnSolution, verb="accept a solution"):
    note: TextRef | None = None


class RejectSolution(OnSolution, verb="reject a solution"):
    reason: TextRef


class ImplementSolution(OnSolution, verb="implement a solution"):
    note: TextRef | None = None


class Answer(Step, verb="answer the customer"):
    answer: TextRef
    outcome: Outcome = Outcome.upheld
    response_kind: ResponseKind | None = None
    refers_to_ombudsman: bool | None = None


class Close(Step, verb="close"):
    result: TextRef
    customer_satisfied: bool | None = None
    root_cause: TextRef | None = None
    remediation: TextRef | None = None
    bank_at_fault: bool | None = None
    cause_code: str | None = None
    remediation_actions: tuple[RemediationAction, ...] = ()


class Reopen(Reasoned, verb="reopen", own_guard=True):
    source_event_id: UUID | None = None


class Hold(Reasoned, verb="put the case on hold", on_hold=True, under_review=True):
    kind: HoldKind = HoldKind.waiting_on_customer


class Resume(Noted, verb="resume", on_hold=True, under_review=True):
    pass


class Escalate(Step, verb="escalate", on_hold=True, under_review=True):
    reason: TextRef | None
    to_level: Level | None = None
    automatic: bool = False


class MergeIntoIncident(Step, verb="merge into an incident", on_hold=True, under_review=True):
    incident_id: UUID
    cause: TextRef


class RecordCustomerLeft(Step, verb="record the customer leaving", on_hold=True, under_review=True):
    visit_id: UUID | None = None


class GiveProgressUpdate(Step, verb="record a progress update", on_hold=True, under_review=True):
    note: TextRef


class ExtendRegulatoryDeadline(Reasoned, verb="extend the regulatory deadline", on_hold=True):
    pass


class HandleFailedVerification(Step, verb="record a failed verification", own_guard=True, on_hold=True):
    """Follow-up's 跟踪核查 failed: reopen a closed case, or undo the implementation of an open one."""

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


class OnDeadline(Step):
    """A deadline of the case fired (the scheduler's facts of it)."""

    deadline: SlaFacts


class RecordSlaAtRisk(OnDeadline, verb="record an SLA at risk", on_hold=True, under_review=True):
    used_fraction: float


class RecordSlaBreached(OnDeadline, verb="record an SLA breach", on_hold=True, under_review=True):
    pass


# ------------------------------------------------------------------ regulatory profiles (issue 8)


class RecordRepeat(Step, verb="merge a repeated complaint", on_hold=True, under_review=True):
    """The same complainant raised the same matter again while the case is open: merge it."""

    channel: Channel
    customer_ref: str
    description: TextRef
    matter_key: str | None = None
    received_in_branch: str | None = None
    new_facts: bool = False
    source_event_id: UUID | None = None


class RecordNewMaterial(Step, verb="record new material", on_hold=True):
    summary: TextRef


class IdentifyStaff(Step, verb="record the staff the complaint is about", on_hold=True, under_review=True):
    staff_ids: tuple[str, ...]


class AssignHandler(Step, verb="assign a handler", on_hold=True, under_review=True):
    handler: str


class RequestExtension(Reasoned, verb="request a further extension", on_hold=True, needs_profile=True):
    #: the acting member of staff (from the request's identity)
    by: str
    request_id: UUID


class DecideExtension(Step, verb="decide on an extension", on_hold=True, needs_profile=True):
    approve: bool
    by: str
    note: TextRef | None = None


class SendInterimResponse(Step, verb="send an interim response", needs_profile=True):
    kind: InterimKind
    note: TextRef
    refers_to_ombudsman: bool = False


class RequestReview(Reasoned, verb="request a review", own_guard=True):
    pass


class DecideReview(Step, verb="decide the review", under_review=True, needs_profile=True):
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
