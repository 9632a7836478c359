"""Complaint HTTP bodies: what staff send with each command (validated, unknown fields refused).

Free texts are plain strings here (``TextRules``: NFC, trimmed, no control characters); the
routes turn them into :class:`~shared.contracts.text.TextRef` through the command's text batch,
so no event ever carries the words.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.command_routes import CommandBody
from shared.contracts.common import CustomerRef, StaffId
from shared.contracts.complaint import (
    Category,
    Channel,
    Code,
    HoldKind,
    InterimKind,
    Level,
    MatterKey,
    Nature,
    Outcome,
    ResponseKind,
    ReviewOutcome,
    Urgency,
)
from shared.contracts.text import FreeText, TextRules

#: staff's free text (validated: NFC, trimmed, no control characters; kept by this service, never
#: put into an event: events carry a TextRef)
Text = Annotated[str, TextRules(2000, min_length=1)]
OptionalText = Annotated[str, TextRules(2000)]


# every command body: unknown fields refused, ``expected_version`` as an alternative to If-Match
# (no docstring: the OpenAPI schema ``Body`` stays as it was)
class Body(CommandBody):
    pass


class ReceiveComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_ref: CustomerRef
    description: FreeText
    visit_id: UUID | None = None
    #: business type code (the profile's code table), if known
    business_type: Code | None = None
    #: what the complaint is about (e.g. ``card:****1234``): a repeat of an open case is merged into it
    matter_key: MatterKey | None = None
    #: the content category, if known at receipt (also recognises a repeat)
    category: Category | None = None
    #: members of staff the complaint is about (they may not handle it)
    about_staff: list[StaffId] = Field(default_factory=list, max_length=10)
    collective: bool = False
    representatives: list[CustomerRef] = Field(default_factory=list, max_length=20)
    #: a repeat that brings new facts or reasons restarts the decision clock (cn-2020)
    new_facts: bool = False


class AcknowledgeBody(Body):
    apology: OptionalText = ""


class ClassifyBody(Body):
    category: Category
    nature: Nature
    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    urgency: Urgency = Urgency.normal
    business_type: Code | None = None
    cause_code: Code | None = None


class NoteBody(Body):
    note: OptionalText = ""


class SolutionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solution_id: UUID | None = None
    description: Text
    compensation: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class ProposeBody(Body):
    solutions: list[SolutionBody] = Field(min_length=1, max_length=5)


class SolutionDecisionBody(Body):
    solution_id: UUID
    note: OptionalText = ""


class RejectBody(Body):
    solution_id: UUID
    reason: Text


class AnswerBody(Body):
    answer: Text
    outcome: Outcome = Outcome.upheld
    #: uk-fca: ``summary_resolution`` within 3 business days of receipt, else ``final``
    response_kind: ResponseKind | None = None
    #: the response tells the complainant of their right to go to the ombudsman (uk-fca)
    refers_to_ombudsman: bool | None = None


class RemediationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action_id: UUID | None = None
    description: Text
    owner: StaffId
    due_at: datetime


class CloseBody(Body):
    result: Text
    customer_satisfied: bool | None = None
    root_cause: Text | None = None
    remediation: Text | None = None
    #: the bank was at fault: closing needs a root cause and remediation actions
    bank_at_fault: bool | None = None
    cause_code: Code | None = None
    #: 溯源整改 actions, each with an owner and a due time (follow-up tasks)
    remediation_actions: list[RemediationBody] = Field(default_factory=list, max_length=10)


class ReasonBody(Body):
    reason: Text


class HoldBody(Body):
    reason: Text
    kind: HoldKind = HoldKind.waiting_on_customer


class EscalateBody(Body):
    reason: Text
    #: must be the next level up, if given (escalation goes one level at a time)
    to_level: Level | None = None


class MergeBody(Body):
    #: the incident to join; omitted: a new incident starts with this case
    incident_id: UUID | None = None
    cause: Text


class ProgressBody(Body):
    note: Text


class AssignBody(Body):
    handler: StaffId


class StaffBody(Body):
    staff_ids: list[StaffId] = Field(min_length=1, max_length=10)


class MaterialBody(Body):
    summary: Text


# an approval's optional note: a note like any step's, under its own schema name (no docstring:
# the OpenAPI schema stays as it was)
class DecisionNoteBody(NoteBody):
    pass


class InterimBody(Body):
    kind: InterimKind
    note: Text
    refers_to_ombudsman: bool = False


class ReviewDecisionBody(Body):
    outcome: ReviewOutcome
    decision: Text
