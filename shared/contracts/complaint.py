"""Events of the complaint context (``complaint.events.v1``).

The events other contexts react to are defined here; the complaint service adds its internal
lifecycle events to this module too (one module per context's topic).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

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


@event("SolutionImplemented")
class SolutionImplemented(EventData):
    """The correction is done: the case counts as resolved (follow-up verifies it in 3 days)."""

    complaint_id: UUID
    solution_id: UUID
    at: datetime


@event("ComplaintClosed")
class ComplaintClosed(EventData):
    complaint_id: UUID
    at: datetime
    result: Note
    #: the customer was satisfied with the outcome at close, if known
    customer_satisfied: bool | None = None


@event("ComplaintReopened")
class ComplaintReopened(EventData):
    complaint_id: UUID
    at: datetime
    reason: Note
    cycle: int = Field(ge=2)
    #: e.g. the follow-up verification that failed
    source_event_id: UUID | None = None
