"""The bodies of reception's commands: what a client may send, checked before anything runs.

Unknown fields are refused (422), texts are bounded; the acting member of staff is never a body
field (it comes from the token), only the teller at a counter may be named (``staff_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.common import CustomerRef, MaskedName, MaskedPhone, Note, StaffId
from shared.contracts.reception import (
    Accessibility,
    CallOutcome,
    CounterId,
    MaterialCode,
    Priority,
    ServiceType,
)
from shared.contracts.text import FreeText, TextRules

Outcome = Annotated[str, TextRules(2000, min_length=1)]
RoutedTo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArriveBody(_Body):
    arrival: Literal["walk_in", "appointment"] = "walk_in"
    returning: bool = False
    customer_ref: CustomerRef | None = None
    display_name: MaskedName | None = None
    relationship_manager: StaffId | None = None
    priority: Priority | None = None
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=4)
    #: ticket-machine / appointment fast path: confirm this need and issue a ticket at once
    service_type: ServiceType | None = None
    notes: Note = ""

    @model_validator(mode="after")
    def _consistent(self) -> ArriveBody:
        if self.relationship_manager and not self.returning:
            raise ValueError("only a returning customer can have a relationship manager")
        if self.notes and self.service_type is None:
            raise ValueError("notes describe the need: give service_type too")
        return self


class GreetBody(_Body):
    customer_ref: CustomerRef | None = None
    priority: Priority | None = None
    accessibility: list[Accessibility] = Field(default_factory=list, max_length=4)


class ConfirmNeedBody(_Body):
    service_type: ServiceType
    notes: Note = ""

    @model_validator(mode="after")
    def _complaint_described(self) -> ConfirmNeedBody:
        if self.service_type is ServiceType.complaint and not self.notes.strip():
            raise ValueError("a complaint needs a description in notes")
        return self


class GuideBody(_Body):
    notes: Note = ""


class CheckDocumentsBody(_Body):
    #: the required materials the customer does not have; empty = complete
    missing: list[MaterialCode] = Field(default_factory=list, max_length=30)


class LeaveBody(_Body):
    #: the customer steps out to fetch missing documents and will come back (same visit)
    to_fetch_documents: bool = False


class CallBody(_Body):
    counter_id: CounterId
    #: the member of staff at the counter; defaults to the acting staff member
    staff_id: StaffId | None = None


class ServeBody(_Body):
    outcome: Outcome
    next_steps: Note = ""
    promised_by: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> ServeBody:
        if self.promised_by is not None and self.promised_by.tzinfo is None:
            raise ValueError("promised_by needs a timezone, e.g. 2026-03-02T10:00:00+08:00")
        return self


class ComplaintBody(_Body):
    description: FreeText
    customer_ref: CustomerRef | None = None


class ReceiveCallBody(_Body):
    customer_ref: CustomerRef | None = None
    masked_number: MaskedPhone | None = None


class AnswerBody(_Body):
    rings: int = Field(ge=0, le=100)
    seconds_to_answer: float | None = Field(default=None, ge=0, le=3600)
    staff_id: StaffId | None = None


class PurposeBody(_Body):
    purpose: ServiceType
    notes: Note = ""


class RouteBody(_Body):
    routed_to: RoutedTo
    notes: Note = ""


class ResolveBody(_Body):
    notes: Note = ""


class EndCallBody(_Body):
    purpose: ServiceType | None = None
    outcome: CallOutcome | None = None
    routed_to: RoutedTo | None = None
    notes: Note = ""

    @model_validator(mode="after")
    def _routed_has_target(self) -> EndCallBody:
        if self.outcome is CallOutcome.routed and not self.routed_to:
            raise ValueError("a routed call needs routed_to")
        if self.routed_to and self.outcome is not CallOutcome.routed:
            raise ValueError("routed_to is only for outcome 'routed'")
        return self
