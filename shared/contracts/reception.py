"""Events of the reception context (``reception.events.v1``).

The events other contexts react to are defined here; the reception service adds its internal
visit and call lifecycle events to this module too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts.common import CustomerRef, Note, StaffId
from shared.registry import EventData, event


class ServiceType(StrEnum):
    account_opening = "account_opening"
    deposit_demand = "deposit_demand"
    deposit_time = "deposit_time"
    deposit_flexible = "deposit_flexible"
    education_savings = "education_savings"
    withdrawal = "withdrawal"
    transfer = "transfer"
    card_service = "card_service"
    loan_application = "loan_application"
    wealth_management = "wealth_management"
    enquiry = "enquiry"
    complaint = "complaint"
    other = "other"


@event("VisitArrived")
class VisitArrived(EventData):
    visit_id: UUID
    customer_ref: CustomerRef | None = None
    arrival: str = Field(pattern=r"^(walk_in|appointment)$")
    returning: bool = False
    at: datetime


@event("ComplaintRaisedDuringVisit")
class ComplaintRaisedDuringVisit(EventData):
    """The complaint service opens a case linked to the visit (channel ``in_branch``)."""

    visit_id: UUID
    customer_ref: CustomerRef
    description: str = Field(min_length=1, max_length=4000)
    at: datetime


@event("VisitServed")
class VisitServed(EventData):
    visit_id: UUID
    service_type: ServiceType
    counter_id: str = Field(min_length=1, max_length=32)
    staff_id: StaffId
    outcome: Note
    next_steps: Note = ""
    #: when the next steps promise something by a time ("funds arrive within 2 business days"):
    #: the follow-up service schedules a callback then
    promised_by: datetime | None = None
    customer_ref: CustomerRef | None = None
    waited_seconds: float = Field(ge=0)
    at: datetime


@event("VisitLeft")
class VisitLeft(EventData):
    visit_id: UUID
    at: datetime
